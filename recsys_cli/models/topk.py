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
