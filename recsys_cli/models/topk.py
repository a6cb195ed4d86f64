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
                  filter_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of one list shared by every user (a non-personalised model), seen items skipped.

    `ranking` is the whole catalogue best first (ties already broken by item index),
    `ranking_scores` its scores. A user needs at most k + |history| entries of it, so the work
    is a mask over that window per user: the cost of the seen-item filter, not of a dense
    users x items score matrix. Users with fewer than k unseen items get the rest of the list
    (seen items) scored -inf, as `mask_seen` + `topk` would.
    """
    n_users, n_items = history.shape[0], len(ranking)
    k = min(k, n_items)
    if not filter_seen or n_users == 0:
        return (np.broadcast_to(ranking[:k], (n_users, k)).astype(np.int32),
                np.broadcast_to(ranking_scores[:k], (n_users, k)).astype(np.float32))
    counts = np.diff(history.indptr)
    window = int(min(n_items, k + counts.max()))
    rank_of = np.empty(n_items, dtype=np.int64)
    rank_of[ranking] = np.arange(n_items)
    seen_rank = rank_of[history.indices]
    row_of = np.repeat(np.arange(n_users), counts)
    inside = seen_rank < window
    seen = np.zeros((n_users, window), dtype=bool)
    seen[row_of[inside], seen_rank[inside]] = True
    unseen_before = np.cumsum(~seen, axis=1)
    # Unseen entries take positions 0, 1, ... in list order; seen ones follow all unseen ones
    # (they only matter when the window is the whole catalogue).
    position = np.where(seen, unseen_before[:, -1:] + np.cumsum(seen, axis=1) - 1, unseen_before - 1)
    rows, columns = np.nonzero(position < k)
    ids = np.empty((n_users, k), dtype=np.int32)
    scores = np.empty((n_users, k), dtype=np.float32)
    ids[rows, position[rows, columns]] = ranking[columns]
    scores[rows, position[rows, columns]] = np.where(seen[rows, columns], -np.inf, ranking_scores[columns])
    return ids, scores
