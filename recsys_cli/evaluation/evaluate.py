"""Evaluate one fitted model on a split: batched over test users, full catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys_cli.evaluation.metrics import coverage, per_user_metrics
from recsys_cli.evaluation.statistics import bootstrap_ci
from recsys_cli.models.base import item_popularity

USERS_PER_CHUNK = 65_536  # bounds the top-k lists held at once, whatever the user count


@dataclass
class Evaluation:
    per_user: pl.DataFrame  # user_idx, n_test, one column per metric@k
    summary: dict[str, float]  # metric@k -> mean over test users (coverage: catalogue share)
    intervals: dict[str, tuple[float, float]]  # metric@k -> 95% bootstrap interval
    users: np.ndarray
    top_ids: np.ndarray
    top_scores: np.ndarray


def rating_errors(model, test, chunk: int = 1 << 20) -> dict[str, float]:
    """RMSE and MAE of predicted against held-out ratings (the test matrix's values)."""
    coo = test.tocoo()
    errors = np.concatenate([
        model.predict(coo.row[s:s + chunk], coo.col[s:s + chunk]) - coo.data[s:s + chunk]
        for s in range(0, coo.nnz, chunk)
    ]).astype(np.float64)
    return {"rmse": float(np.sqrt(np.mean(errors**2))), "mae": float(np.mean(np.abs(errors)))}


def evaluate(model, train, test, history, ks: list[int], names: list[str], *, filter_seen: bool = True,
             fold_in: bool = False, keep: int = 0, seed: int = 0, progress=None, bootstrap: bool = True) -> Evaluation:
    """Rank the full catalogue for every user with test items and score the top max(ks).

    `history` gives each user's seen items (train, or test_input for a user-holdout split);
    `train` gives item popularity for novelty. `keep` extends the lists kept for export.
    """
    users = np.flatnonzero(np.diff(test.indptr)).astype(np.int32)
    depth = max(max(ks), keep)
    popularity = item_popularity(train)
    n_train_users = int(np.count_nonzero(np.diff(train.indptr)))
    per_metric_names = [n for n in names if n != "coverage"]
    columns: dict[str, list[np.ndarray]] = {}
    all_ids, all_scores = [], []
    for start in range(0, len(users), USERS_PER_CHUNK):
        batch = users[start:start + USERS_PER_CHUNK]
        ids, scores = model.recommend(batch, history, depth, filter_seen=filter_seen, fold_in=fold_in)
        values = per_user_metrics(ids, test[batch], history[batch], popularity, n_train_users, ks, per_metric_names,
                                  valid=np.isfinite(scores))
        for key, value in values.items():
            columns.setdefault(key, []).append(value)
        all_ids.append(ids)
        all_scores.append(scores)
        if progress is not None:
            progress(len(batch))
    top_ids = np.concatenate(all_ids) if all_ids else np.empty((0, depth), np.int32)
    top_scores = np.concatenate(all_scores) if all_scores else np.empty((0, depth), np.float32)
    ordered = [f"{name}@{k}" for k in ks for name in names]  # the config's order, K by K
    per_user = pl.DataFrame({
        "user_idx": users,
        "n_test": np.diff(test.indptr)[users].astype(np.int32),
        **{key: np.concatenate(columns[key]) for key in ordered if key in columns},
    })
    summary = {}
    for key in ordered:
        if key in columns:
            summary[key] = float(per_user[key].mean())
        else:  # coverage: one value for the whole catalogue
            summary[key] = coverage(top_ids, int(key.split("@")[1]), train.shape[1], valid=np.isfinite(top_scores))
    intervals = {key: bootstrap_ci(per_user[key].to_numpy(), seed=seed) for key in columns} if bootstrap else {}
    if getattr(model, "predicts_ratings", False):
        summary.update(rating_errors(model, test))
    return Evaluation(per_user, summary, intervals, users, top_ids, top_scores)
