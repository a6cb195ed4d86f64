"""The model protocol (see ../shared/DESIGN.md), modelled on the `implicit` library's API.

    fit(train) -> self
    recommend(users, history, k, filter_seen=True) -> (item_ids[n, k], scores[n, k])
    similar_items(items, k) -> (item_ids[n, k], scores[n, k])       # the item itself excluded
    save(dir) / load(dir)                                            # npz + params.json, no pickle

Hyperparameters are a pydantic model (`Params`) declared once per class: defaults, ranges and
types are what the config validator and the tuner read. `history` is the users x items CSR
the users' seen items come from (train, or the fold-in part of a user-holdout split).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, ClassVar, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict

from recsys_cli.atomic import write_json
from recsys_cli.models.topk import in_batches, mask_seen, rows_per_batch, topk


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Recommender:
    Params: ClassVar[type[BaseModel]] = NoParams
    has_similar_items: ClassVar[bool] = False
    deterministic: ClassVar[bool] = True  # bitwise reproducible when multithreaded
    # Default tune space: parameter -> {low, high, log, type} or {choices}.
    tune_space: ClassVar[dict[str, dict]] = {}
    iterative: ClassVar[bool] = False  # fit(train, callback) calls back every iteration
    predicts_ratings: ClassVar[bool] = False  # has predict(users, items) -> ratings (RMSE/MAE)
    # Set by whoever runs a long fit (the CLI draws a bar): (done, total, what is counted).
    on_progress: Optional[Callable[[int, int, str], None]] = None

    def __init__(self, params: BaseModel | dict | None = None, *, seed: int = 42, threads: int = 0):
        if not isinstance(params, BaseModel):
            params = self.Params.model_validate(params or {})
        self.params = params
        self.seed = seed
        self.threads = threads
        self.n_items: int | None = None

    # --- to implement -------------------------------------------------------------------
    def fit(self, train) -> "Recommender":
        raise NotImplementedError

    def score(self, users: np.ndarray, history) -> np.ndarray:
        """Dense float32 scores (len(users), n_items) for a batch; history is their CSR rows."""
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save."""
        raise NotImplementedError

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # --- provided -----------------------------------------------------------------------
    def report_progress(self, done: int, total: int, what: str) -> None:
        """Progress within one fit (SLIM's items, the reranker's trees), for long single fits."""
        if self.on_progress is not None:
            self.on_progress(done, total, what)

    def recommend(self, users: np.ndarray, history, k: int, filter_seen: bool = True, fold_in: bool = False):
        """Top-k per user, batched over users so memory stays bounded."""
        users = np.asarray(users)
        ids = np.empty((len(users), min(k, self.n_items)), dtype=np.int32)
        scores = np.empty(ids.shape, dtype=np.float32)
        step = rows_per_batch(self.n_items)
        for start in range(0, len(users), step):
            batch = users[start:start + step]
            rows = history[batch]
            block = np.asarray(self.score(batch, rows), dtype=np.float32)
            if filter_seen:
                mask_seen(block, rows)
            ids[start:start + step], scores[start:start + step] = topk(block, k)
        return ids, scores

    def similar_items(self, items: np.ndarray, k: int):
        raise NotImplementedError(f"{type(self).__name__} has no item similarity")

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "state.npz", **self.state())
        write_json(folder / "params.json", {
            "class": type(self).__name__, "params": self.params.model_dump(),
            "seed": self.seed, "n_items": self.n_items,
        })

    @classmethod
    def load(cls, folder: Path) -> "Recommender":
        meta = json.loads((folder / "params.json").read_text())
        model = cls(meta["params"], seed=meta["seed"])
        model.n_items = meta["n_items"]
        with np.load(folder / "state.npz") as arrays:
            model.set_state({name: arrays[name] for name in arrays.files})
        return model


def csr_state(matrix, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}_data": matrix.data, f"{prefix}_indices": matrix.indices,
            f"{prefix}_indptr": matrix.indptr, f"{prefix}_shape": np.array(matrix.shape)}


def csr_from_state(arrays: dict[str, np.ndarray], prefix: str):
    import scipy.sparse as sp

    return sp.csr_matrix((arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]),
                         shape=tuple(arrays[f"{prefix}_shape"]))


def similar_from_rows(rows: np.ndarray, items: np.ndarray, k: int):
    """Top-k of dense similarity rows with each anchor item itself excluded."""
    rows = np.array(rows, dtype=np.float32, copy=True)
    rows[np.arange(len(items)), items] = -np.inf
    return topk(rows, k)


def cosine_similar_items(item_factors: np.ndarray, items: np.ndarray, k: int):
    """Top-k items by cosine of their factor vectors, the anchor excluded, batched."""
    normed = item_factors / (np.linalg.norm(item_factors, axis=1, keepdims=True) + 1e-12)
    return in_batches(lambda batch: similar_from_rows(normed[batch] @ normed.T, batch, k), items,
                      rows_per_batch(len(item_factors)))


def item_popularity(train) -> np.ndarray:
    """Number of users with each item in train."""
    return np.bincount(train.indices, minlength=train.shape[1]).astype(np.float32)
