"""Exact batched top-k over dense score rows, ties broken by item index.

Scores (float32) are mapped to order-preserving int32 keys and packed with the inverted item
index into one int64, so every key is distinct: argpartition then gives exactly the order
(score descending, item index ascending) that DESIGN.md asks for, with no per-row loop.
"""

from __future__ import annotations

import numpy as np

SCORE_BUDGET_BYTES = 256 * 2**20  # per batch of dense score rows and their keys


def rows_per_batch(n_items: int, budget: int = SCORE_BUDGET_BYTES) -> int:
    """Users per batch so that scores (4 B), keys (8 B) and partition output (8 B) fit the budget."""
    return max(1, budget // (20 * max(1, n_items)))


def _sortable_keys(scores: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(scores, dtype=np.float32).view(np.int32).astype(np.int64)
    bits = np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)  # negative floats: reverse their order
    inverted_index = np.int64(0xFFFFFFFF) - np.arange(scores.shape[1], dtype=np.int64)
    return (bits << 32) | inverted_index


def topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, scores) of the k best items per row, best first."""
    n_items = scores.shape[1]
    k = min(k, n_items)
    keys = _sortable_keys(scores)
    if k < n_items:
        part = np.argpartition(keys, n_items - k, axis=1)[:, n_items - k:]
    else:
        part = np.broadcast_to(np.arange(n_items), keys.shape).copy()
    order = np.argsort(np.take_along_axis(keys, part, axis=1), axis=1)[:, ::-1]
    ids = np.take_along_axis(part, order, axis=1).astype(np.int32)
    return ids, np.take_along_axis(scores, ids, axis=1).astype(np.float32)


def in_batches(top_lists, rows: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply `top_lists(slice) -> (ids, scores)` to consecutive slices of `rows` and stack."""
    parts = [top_lists(rows[start:start + step]) for start in range(0, len(rows), step)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def mask_seen(scores: np.ndarray, history) -> None:
    """Set the scores of the items in each row's history (a CSR batch) to -inf, in place."""
    rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
    scores[rows, history.indices] = -np.inf


def ranked_unseen(ranking: np.ndarray, ranking_scores: np.ndarray, history, k: int,
                  filter_seen: bool = True, rank_of: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of one list shared by every user (a non-personalised model), seen items skipped.

    `ranking` is the whole catalogue best first (ties already broken by item index),
    `ranking_scores` its scores, `rank_of` its inverse (computed when not given). With a user's
    seen ranks sorted, r_0 < r_1 < ..., r_i - i unseen entries precede r_i, so the p-th unseen
    entry of the list is at rank p + #{i : r_i - i <= p}: one count per (user, p) over the
    seen items with r_i - i < k, then a cumulative sum along p. The cost is the history's
    entries plus users x k, never users x the list. Users with fewer than k unseen items get
    the rest of the list (their seen items, in list order) scored -inf.
    """
    n_users, n_items = history.shape[0], len(ranking)
    k = min(k, n_items)
    if not filter_seen or n_users == 0:
        return (np.broadcast_to(ranking[:k], (n_users, k)).astype(np.int32),
                np.broadcast_to(ranking_scores[:k], (n_users, k)).astype(np.float32))
    import scipy.sparse as sp

    if rank_of is None:
        rank_of = inverse_permutation(ranking)
    counts = np.diff(history.indptr)
    rows = np.repeat(np.arange(n_users), counts)
    seen_rank = rank_of[history.indices]
    # A seen rank r at sorted place i has r - i >= r - (count - 1): from k + count - 1 on, it
    # precedes none of the first k unseen entries (nor do the ranks after it), so only the
    # head of each user's ranks is sorted (scipy's per-row sort) and counted.
    head = seen_rank < k + counts[rows] - 1
    seen_rank, rows = seen_rank[head], rows[head]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    ranked = sp.csr_matrix((np.zeros(len(seen_rank), np.int8), seen_rank, indptr), shape=(n_users, n_items))
    ranked.sort_indices()
    seen_rank = ranked.indices
    unseen_before = seen_rank - (np.arange(len(seen_rank)) - indptr[rows])
    early = unseen_before < k
    shifts = np.bincount(rows[early] * k + unseen_before[early], minlength=n_users * k).reshape(n_users, k)
    rank = np.cumsum(shifts, axis=1) + np.arange(k)
    short = rank >= n_items  # past the last unseen item: the user's seen items follow, in list order
    if short.any():
        users, position = np.nonzero(short)
        # such a user has fewer than k unseen items, so every seen rank was kept
        rank[users, position] = seen_rank[indptr[users] + position - (n_items - counts[users])]
    scores = ranking_scores[rank].astype(np.float32)
    scores[short] = -np.inf
    return ranking[rank].astype(np.int32), scores


def inverse_permutation(order: np.ndarray) -> np.ndarray:
    """rank_of[order[r]] = r (int32 below 2**31 entries: scipy then takes it as indices unchecked)."""
    inverse = np.empty(len(order), dtype=np.int32 if len(order) < 2**31 else np.int64)
    inverse[order] = np.arange(len(order))
    return inverse
