"""Ranking metrics over (top-k item ids, held-out CSR), vectorised per batch of users.

Semantics (../shared/DESIGN.md):
- MRR@K: 1/(p+1) for the first held-out item at 0-based position p in the top K, else 0.
- hit_rate@K: 1 if any held-out item is in the top K.
- recall@K = hits / |test| (as in the seeds); recall_capped@K = hits / min(K, |test|)
  (Liang et al. 2018). precision@K = hits / K.
- ndcg@K: binary gains, ideal DCG over min(K, |test|) items.
- map@K: sum over hit positions of precision@position, divided by min(K, |test|).
- novelty@K: mean self-information -log2(popularity share) of the recommended items, the share
  being the fraction of train users with the item (at least one user, so it stays finite).
- unseen_share@K (seed 004's "novelty"): share of recommended items the user had not seen in
  train — 1 when seen items are filtered.
- avg_popularity@K: mean number of train users of the recommended items.
- coverage@K (catalogue-level): distinct recommended items / catalogue size.
Per-user values are returned for every metric but coverage; means are over users with test items.
"""

from __future__ import annotations

import numpy as np

RANKING = ("mrr", "hit_rate", "recall", "recall_capped", "precision", "ndcg", "map")
BEYOND_ACCURACY = ("novelty", "unseen_share", "avg_popularity")
CATALOGUE = ("coverage",)
ALL_METRICS = RANKING + BEYOND_ACCURACY + CATALOGUE


def membership(top_ids: np.ndarray, rows) -> np.ndarray:
    """hits[u, j] = top_ids[u, j] is in CSR row u (rows: CSR with one row per top_ids row)."""
    n_items = rows.shape[1]
    row_of = np.repeat(np.arange(rows.shape[0], dtype=np.int64), np.diff(rows.indptr))
    wanted = np.sort(row_of * n_items + rows.indices)
    keys = np.arange(top_ids.shape[0], dtype=np.int64)[:, None] * n_items + top_ids
    position = np.minimum(np.searchsorted(wanted, keys), max(len(wanted) - 1, 0))
    return (wanted[position] == keys) if len(wanted) else np.zeros(keys.shape, dtype=bool)


def per_user_metrics(
    top_ids: np.ndarray,
    test_rows,
    train_rows,
    popularity: np.ndarray,
    n_train_users: int,
    ks: list[int],
    names: list[str],
) -> dict[str, np.ndarray]:
    """`name@k` -> per-user values for one batch (top_ids rows align with test/train rows)."""
    hits = membership(top_ids, test_rows)
    n_test = np.diff(test_rows.indptr).astype(np.float64)
    seen = membership(top_ids, train_rows) if "unseen_share" in names else None
    information = -np.log2(np.maximum(popularity, 1.0) / max(n_train_users, 1))
    out: dict[str, np.ndarray] = {}
    discount = 1.0 / np.log2(np.arange(top_ids.shape[1]) + 2.0)
    for k in ks:
        h = hits[:, :k]
        found = h.sum(axis=1).astype(np.float64)
        capped = np.minimum(k, n_test)
        values = {}
        if "mrr" in names:
            first = np.argmax(h, axis=1)
            values["mrr"] = np.where(h.any(axis=1), 1.0 / (first + 1.0), 0.0)
        if "hit_rate" in names:
            values["hit_rate"] = h.any(axis=1).astype(np.float64)
        if "recall" in names:
            values["recall"] = found / n_test
        if "recall_capped" in names:
            values["recall_capped"] = found / capped
        if "precision" in names:
            values["precision"] = found / k
        if "ndcg" in names:
            ideal = np.cumsum(discount[:k])[capped.astype(np.int64) - 1]
            values["ndcg"] = (h * discount[:k]).sum(axis=1) / ideal
        if "map" in names:
            precision_at = np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1)
            values["map"] = (precision_at * h).sum(axis=1) / capped
        if "novelty" in names:
            values["novelty"] = information[top_ids[:, :k]].mean(axis=1)
        if "unseen_share" in names:
            values["unseen_share"] = 1.0 - seen[:, :k].mean(axis=1)
        if "avg_popularity" in names:
            values["avg_popularity"] = popularity[top_ids[:, :k]].mean(axis=1)
        out.update({f"{name}@{k}": value for name, value in values.items()})
    return out


def coverage(top_ids: np.ndarray, k: int, n_items: int) -> float:
    return len(np.unique(top_ids[:, :k])) / n_items
