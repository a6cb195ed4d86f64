"""Ranking metrics over (top-k item ids, held-out CSR), vectorised per batch of users.

Semantics (../shared/DESIGN.md):
- MRR@K: 1/(p+1) for the first held-out item at 0-based position p in the top K, else 0.
- hit_rate@K: 1 if any held-out item is in the top K.
- recall@K = hits / |test| (as in the seeds); recall_capped@K = hits / min(K, |test|)
  (Liang et al. 2018). precision@K = hits / K.
- ndcg@K: binary gains, ideal DCG over min(K, |test|) items.
- map@K: sum over hit positions of precision@position, divided by min(K, |test|);
  map_rel@K divides the same sum by |test| (rectools', ranx's AP@K).
- novelty@K: mean self-information -log2(popularity share) of the recommended items, the share
  being the fraction of train users with the item (at least one user, so it stays finite).
- unseen_share@K (seed 004's "novelty"): share of recommended items the user had not seen in
  train — 1 when seen items are filtered.
- avg_popularity@K: mean number of train users of the recommended items.
- coverage@K (catalogue-level): distinct recommended items / catalogue size.
Only the valid part of each top-K list counts: a user with fewer than K unseen items gets a
list padded with seen items scored -inf (or ids -1), and those are no recommendation — the
export drops them too. The beyond-accuracy means are over the valid items (0 for a user with
none); precision keeps K as its denominator. Values are float64.
Per-user values are returned for every metric but coverage; means are over users with test items.
"""

from __future__ import annotations

import numpy as np

RANKING = ("mrr", "hit_rate", "recall", "recall_capped", "precision", "ndcg", "map", "map_rel")
BEYOND_ACCURACY = ("novelty", "unseen_share", "avg_popularity")
CATALOGUE = ("coverage",)
ALL_METRICS = RANKING + BEYOND_ACCURACY + CATALOGUE


SHORT_ROWS = 4  # stored items per row up to which each is compared with its row's list
CELLS_PER_CHUNK = 1 << 22  # compared (item, list entry) pairs at once


def membership(top_ids: np.ndarray, rows) -> np.ndarray:
    """hits[u, j] = top_ids[u, j] is in CSR row u (rows: CSR with one row per top_ids row).

    Short rows (the held-out items of a test part) compare each stored item with its row's
    list: stored items x K comparisons. Long rows (a history) are searched: the lists' keys in
    the sorted (row, item) keys of the rows."""
    n_rows, depth = top_ids.shape
    row_of = np.repeat(np.arange(rows.shape[0], dtype=np.int64), np.diff(rows.indptr))
    if rows.nnz <= SHORT_ROWS * max(n_rows, 1):
        hits = np.zeros(top_ids.shape, dtype=bool)
        step = max(1, CELLS_PER_CHUNK // max(depth, 1))
        for start in range(0, rows.nnz, step):
            owner = row_of[start:start + step]
            entry, position = np.nonzero(top_ids[owner] == rows.indices[start:start + step, None])
            hits[owner[entry], position] = True
        return hits
    n_items = rows.shape[1]
    wanted = np.sort(row_of * n_items + rows.indices)
    keys = np.arange(n_rows, dtype=np.int64)[:, None] * n_items + top_ids
    position = np.minimum(np.searchsorted(wanted, keys), max(len(wanted) - 1, 0))
    return (wanted[position] == keys) if len(wanted) else np.zeros(keys.shape, dtype=bool)


def per_user_metrics(
    top_ids: np.ndarray,
    test_rows,
    train_rows,
    popularity: np.ndarray | None,
    n_train_users: int,
    ks: list[int],
    names: list[str],
    valid: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """`name@k` -> per-user values for one batch (top_ids rows align with test/train rows).
    `valid[u, j]`: whether top_ids[u, j] is a real recommendation (finite score); default all.
    `popularity` (users per item in train) is needed by novelty and avg_popularity only."""
    valid = np.ones(top_ids.shape, dtype=bool) if valid is None else valid
    hits = membership(top_ids, test_rows) & valid
    n_test = np.diff(test_rows.indptr).astype(np.float64)
    seen = membership(top_ids, train_rows) & valid if "unseen_share" in names else None
    if popularity is not None:
        popularity = np.asarray(popularity, dtype=np.float64)
    information = -np.log2(np.maximum(popularity, 1.0) / max(n_train_users, 1)) if "novelty" in names else None
    out: dict[str, np.ndarray] = {}
    discount = 1.0 / np.log2(np.arange(top_ids.shape[1]) + 2.0)
    for k in ks:
        h = hits[:, :k]
        listed = valid[:, :k]
        n_listed = np.maximum(listed.sum(axis=1), 1).astype(np.float64)  # a user with no valid item gets 0
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
        if "map" in names or "map_rel" in names:
            precision_sum = (np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1) * h).sum(axis=1)
            if "map" in names:
                values["map"] = precision_sum / capped
            if "map_rel" in names:
                values["map_rel"] = precision_sum / n_test
        if "novelty" in names:
            values["novelty"] = np.where(listed, information[top_ids[:, :k]], 0.0).sum(axis=1) / n_listed
        if "unseen_share" in names:
            values["unseen_share"] = np.where(listed.any(axis=1), 1.0 - seen[:, :k].sum(axis=1) / n_listed, 0.0)
        if "avg_popularity" in names:
            values["avg_popularity"] = np.where(listed, popularity[top_ids[:, :k]], 0.0).sum(axis=1) / n_listed
        out.update({f"{name}@{k}": value for name, value in values.items()})
    return out


def coverage(top_ids: np.ndarray, k: int, n_items: int, valid: np.ndarray | None = None) -> float:
    """Distinct items among the valid entries of the top-k lists, over the catalogue size."""
    listed = top_ids[:, :k] if valid is None else top_ids[:, :k][valid[:, :k]]
    return len(np.unique(listed)) / n_items
