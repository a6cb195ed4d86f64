"""The export stage: every model's top-N recommendations (original ids, item names) and,
where the model has them, similar items -> recommendations/, similar/, top_popular.parquet."""

from __future__ import annotations

import numpy as np

from recsys_cli.stages.env import StageEnv
from recsys_cli.stages.records import SplitScores


def export(env: StageEnv, scores: SplitScores) -> None:
    """Every model of `scores` (the run's first split): its trained model is loaded only for
    an export not stored, and a fresh evaluation's top lists are reused."""
    from recsys_cli.core.atomic import fingerprint as fp
    from recsys_cli.models.registry import model_class
    from recsys_cli.report.tables import id_lookup, write_ranked, write_top_popular

    export, split = env.experiment.export, scores.split
    if not export.recommendations and not export.similar:
        return
    user_ids, item_ids = id_lookup(env.dataset.users, "user_idx"), id_lookup(env.dataset.items, "item_idx")
    users = split.test_users if export.users == "test" else np.arange(split.train.shape[0], dtype=np.int32)
    for name, trained in scores.trained.items():
        spec = trained.spec
        key = fp([trained.key, env.config["export"], spec.filter_seen, "names"])  # exports carry item names
        paths = []
        if export.recommendations:
            paths.append(f"recommendations/{name}.parquet")
        has_similar = model_class(spec.type).has_similar_items
        if export.similar and has_similar:
            paths.append(f"similar/{name}.parquet")
        fresh = scores.evaluations[name].top_lists if name in scores.evaluations else None

        def work(record, trained=trained, paths=paths, has_similar=has_similar, fresh=fresh):
            model = trained.get()
            if export.recommendations:
                ids, top_scores = fresh or env.backend.recommend(
                    model, users, split.history, export.recommendations, filter_seen=trained.spec.filter_seen,
                    fold_in=split.fold_in)
                write_ranked(env.run.path / paths[0], users, ids, top_scores, left="user_id", right="item_id",
                             left_ids=user_ids, right_ids=item_ids, items=env.dataset.items, names=[("item_id", "name")])
            if export.similar and has_similar:
                anchors = np.arange(split.train.shape[1], dtype=np.int32)
                ids, similar_scores = similar_in_chunks(model, anchors, export.similar)
                write_ranked(env.run.path / paths[-1], anchors, ids, similar_scores, left="item_id",
                             right="similar_item_id", left_ids=item_ids, right_ids=item_ids, items=env.dataset.items,
                             names=[("item_id", "name"), ("similar_item_id", "similar_name")])
            record.update(files=paths)

        env.timed(f"export/{name}", key, paths, work)
    if export.recommendations:
        write_top_popular(env.run.path / "top_popular.parquet", split.train, env.dataset.items, export.recommendations)


def similar_in_chunks(model, anchors: np.ndarray, k: int, chunk: int = 4096):
    from recsys_cli.models.topk import in_batches

    return in_batches(lambda batch: model.similar_items(batch, k), anchors, chunk)
