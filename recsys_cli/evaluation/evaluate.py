"""Evaluate one fitted model on a split: batched over test users, full catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys_cli.evaluation.metrics import METRICS, per_user_metrics
from recsys_cli.evaluation.statistics import bootstrap_ci
from recsys_cli.models.base import item_popularity

USERS_PER_CHUNK = 65_536  # bounds the top-k lists held at once, whatever the user count
CELLS_PER_CHUNK = 1 << 23  # ...and users x K of a chunk, whatever K (8M ids + scores = 64 MB)




def users_per_chunk(depth: int) -> int:
    """Users per batch so that a batch's top-`depth` lists stay within CELLS_PER_CHUNK."""
    return max(1, min(USERS_PER_CHUNK, CELLS_PER_CHUNK // max(depth, 1)))


@dataclass
class Evaluation:
    per_user: pl.DataFrame  # user_idx, n_test, one column per metric@k
    summary: dict[str, float]  # metric@k -> mean over test users (coverage: catalogue share)
    intervals: dict[str, tuple[float, float]]  # metric@k -> 95% bootstrap interval
    users: np.ndarray
    top_ids: np.ndarray  # the first `keep` columns only (the lists kept for export)
    top_scores: np.ndarray


def rating_errors(model, test, chunk: int = 1 << 20) -> dict[str, float]:
    """RMSE and MAE of predicted against held-out ratings (the test matrix's values)."""
    coo = test.tocoo()
    errors = np.concatenate([
        model.predict(coo.row[s:s + chunk], coo.col[s:s + chunk]) - coo.data[s:s + chunk]
        for s in range(0, coo.nnz, chunk)
    ]).astype(np.float64)
    return {"rmse": float(np.sqrt(np.mean(errors**2))), "mae": float(np.mean(np.abs(errors)))}


@dataclass
class Scored:
    """One block of users ranked and scored: what `summarise` joins into an `Evaluation`,
    whether the blocks came from this process or from Ray tasks."""

    per_user: pl.DataFrame  # user_idx, n_test, one column per metric@k
    recommended: dict[int, np.ndarray]  # K -> which items the block's valid top-K lists hold (coverage)
    top_ids: np.ndarray  # the first `keep` columns only
    top_scores: np.ndarray


def score_users(model, train, test, history, users: np.ndarray, ks: list[int], names: list[str], *,
                filter_seen: bool = True, fold_in: bool = False, keep: int = 0, progress=None) -> Scored:
    """Rank the full catalogue for `users` (rows of `test` with test items) in batches and
    score the top max(ks): per-user metrics, the items each K's lists recommend, and the first
    `keep` columns of the lists (the export's)."""
    depth = max(max(ks), keep)
    popularity = item_popularity(train) if any(METRICS[name].reads_popularity for name in names) else None
    n_train_users = int(np.count_nonzero(np.diff(train.indptr)))
    columns: dict[str, list[np.ndarray]] = {}
    all_ids, all_scores = [], []
    # Coverage is accumulated per K, so only the `keep` columns of each batch's lists outlive it.
    recommended = {k: np.zeros(train.shape[1], dtype=bool) for k in ks} if "coverage" in names else {}
    chunk = users_per_chunk(depth)
    for start in range(0, len(users), chunk):
        batch = users[start:start + chunk]
        ids, scores = model.recommend(batch, history, depth, filter_seen=filter_seen, fold_in=fold_in)
        valid = np.isfinite(scores)  # seen items scored -inf and -1 padding are no recommendation
        values = per_user_metrics(ids, test[batch], history[batch], popularity, n_train_users, ks, names, valid=valid)
        for key, value in values.items():
            columns.setdefault(key, []).append(value)
        for k, seen in recommended.items():
            listed = ids[:, :k][valid[:, :k]]
            seen[listed[(listed >= 0) & (listed < len(seen))]] = True
        all_ids.append(ids[:, :keep].copy())
        all_scores.append(scores[:, :keep].copy())
        if progress is not None:
            progress(len(batch))
    per_user_keys = [f"{name}@{k}" for k in ks for name in names  # the config's order, K by K
                     if METRICS[name].per_user is not None]
    per_user = pl.DataFrame({
        "user_idx": users,
        "n_test": np.diff(test.indptr)[users].astype(np.int32),
        **{key: np.concatenate(columns[key]) if key in columns else np.empty(0) for key in per_user_keys},
    })
    top_ids = np.concatenate(all_ids) if all_ids else np.empty((0, keep), np.int32)
    top_scores = np.concatenate(all_scores) if all_scores else np.empty((0, keep), np.float32)
    return Scored(per_user, recommended, top_ids, top_scores)


def summarise(parts: list[Scored], model, train, test, ks: list[int], names: list[str], *, seed: int = 0,
              bootstrap: bool = True) -> Evaluation:
    """The `Evaluation` of blocks of users scored by `score_users` (in user order): means over
    the users, coverage over the union of the blocks' lists, bootstrap intervals, and the rating
    errors of a model that predicts ratings. Local and Ray evaluations both end here."""
    per_user = pl.concat([p.per_user for p in parts], how="vertical_relaxed", rechunk=True)
    users = per_user["user_idx"].to_numpy()
    summary = {}
    for key in (f"{name}@{k}" for k in ks for name in names):  # the config's order, K by K
        if key in per_user.columns:
            summary[key] = float(per_user[key].mean()) if per_user.height else float("nan")
        elif key.startswith("coverage@"):  # one value for the whole catalogue
            k = int(key.split("@")[1])
            summary[key] = float(np.logical_or.reduce([p.recommended[k] for p in parts]).sum() / train.shape[1])
    columns = [c for c in per_user.columns if "@" in c]
    intervals = {c: bootstrap_ci(per_user[c].to_numpy(), seed=seed) for c in columns} if bootstrap else {}
    if model.predicts_ratings:
        summary.update(rating_errors(model, test))
    return Evaluation(per_user, summary, intervals, users, np.concatenate([p.top_ids for p in parts]),
                      np.concatenate([p.top_scores for p in parts]))


def evaluate(model, train, test, history, ks: list[int], names: list[str], *, filter_seen: bool = True,
             fold_in: bool = False, keep: int = 0, seed: int = 0, progress=None, bootstrap: bool = True) -> Evaluation:
    """Rank the full catalogue for every user with test items and score the top max(ks).

    `history` gives each user's seen items (train, or test_input for a user-holdout split);
    `train` gives item popularity for novelty. `keep` extends the lists kept for export.
    """
    users = np.flatnonzero(np.diff(test.indptr)).astype(np.int32)
    scored = score_users(model, train, test, history, users, ks, names, filter_seen=filter_seen, fold_in=fold_in,
                         keep=keep, progress=progress)
    return summarise([scored], model, train, test, ks, names, seed=seed, bootstrap=bootstrap)
