"""The local backend: evaluation, exports and tuning trials in this process (the default)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class LocalBackend:
    name = "local"

    def __enter__(self) -> "LocalBackend":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def describe(self) -> dict:
        return {"backend": self.name}

    def evaluate(self, model, train, test, history, ks, names, **options):
        from recsys_cli.evaluation.evaluate import evaluate

        return evaluate(model, train, test, history, ks, names, **options)

    def recommend(self, model, users: np.ndarray, history, k: int, *, filter_seen: bool, fold_in: bool):
        from recsys_cli.evaluation.evaluate import users_per_chunk
        from recsys_cli.models.topk import in_batches

        return in_batches(lambda batch: model.recommend(batch, history, k, filter_seen=filter_seen, fold_in=fold_in),
                          users, users_per_chunk(k))

    def map_user_blocks(self, function, users: np.ndarray, *shared, block: int) -> list:
        """[function(users of a block, *shared) for consecutive blocks of `block` users]."""
        return [function(users[start:start + block], *shared) for start in range(0, len(users), block)]

    def study_storage(self, folder: Path) -> Path:
        return folder / "study.db"

    def run_study(self, **kwargs):
        from recsys_cli.tuning import study as tuning

        return tuning.run_study(**kwargs)
