"""Split strategies over the dataset's interactions (the cells of its users x items matrix).

Every strategy labels each cell: TRAIN, TEST, TEST_COLD (temporal: test cells of users with no
train history) or TEST_INPUT (user-holdout: the fold-in history of held-out users). A cell
moves whole, with all its repeat events, so the parts are disjoint and add up to the input
matrix. Time-aware strategies order cells by their first event, i.e. when the user met the
item — with seen items filtered at evaluation, that is the only moment that can be predicted.

Adding a strategy: one function `(cells, rng, **params) -> labels` and one registration in
data/split_strategies.py declaring its parameters (docs/architecture.md has a worked example).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recsys_cli.core.errors import InputError
from recsys_cli.data.time_text import parse_date, parse_window

if TYPE_CHECKING:
    import polars as pl

TRAIN, TEST, TEST_COLD, TEST_INPUT = 0, 1, 2, 3
PART_FILES = {TRAIN: "train", TEST: "test", TEST_COLD: "test_cold", TEST_INPUT: "test_input"}
VALIDATION_FILES = {TRAIN: "valid_train", TEST: "valid", TEST_COLD: "valid_cold", TEST_INPUT: "valid_input"}


@dataclass
class Cells:
    """Interactions in CSR order (user, then item), with first-event time and position."""

    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    shape: tuple[int, int]
    times: np.ndarray | None = None  # first event's Unix seconds
    order: np.ndarray | None = None  # first event's row in events.parquet (time order)

    @classmethod
    def from_matrix(cls, matrix, events: "pl.DataFrame | pl.LazyFrame | None" = None) -> "Cells":
        """`events` may be a lazy scan of events.parquet: it is then streamed down to one
        row per cell, so a split never holds the raw event log in memory."""
        import polars as pl

        users = np.repeat(np.arange(matrix.shape[0], dtype=np.int32), np.diff(matrix.indptr))
        cells = cls(users, matrix.indices.astype(np.int32), matrix.data, tuple(matrix.shape))
        if events is not None:
            first = (
                events.lazy().select("user_idx", "item_idx", "timestamp")
                .with_row_index("_row")
                .group_by("user_idx", "item_idx")
                .agg(pl.col("timestamp").min(), pl.col("_row").min())
                .sort("user_idx", "item_idx")
                .collect(engine="streaming")
            )
            if first.height != len(users):
                raise RuntimeError("events.parquet and matrix.npz disagree; re-run the ingest")
            cells.times = first["timestamp"].to_numpy()
            cells.order = first["_row"].to_numpy().astype(np.int64)
        return cells

    def subset(self, mask: np.ndarray) -> "Cells":
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return Cells(self.users[mask], self.items[mask], self.weights[mask], self.shape,
                     pick(self.times), pick(self.order))

    def to_csr(self, mask: np.ndarray | None = None):
        import scipy.sparse as sp

        users, items, weights = (self.users, self.items, self.weights) if mask is None else (
            self.users[mask], self.items[mask], self.weights[mask])
        indptr = np.zeros(self.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(users, minlength=self.shape[0]), out=indptr[1:])
        return sp.csr_matrix((weights.astype(np.float32), items, indptr), shape=self.shape)

    def require_time(self, strategy: str) -> None:
        if self.times is None or np.isnan(np.asarray(self.times, dtype=np.float64)).any():
            raise InputError(
                f"strategy {strategy!r} needs timestamps, and this dataset has none; "
                "use leave-one-random, random-holdout or user-holdout"
            )


def _check_share(name: str, value: float, *, inclusive: bool = False) -> None:
    if not (0 < value <= 1 if inclusive else 0 < value < 1):
        raise InputError(f"--{name.replace('_', '-')} must be a fraction in (0, 1), got {value}")


def _user_counts(cells: Cells) -> np.ndarray:
    return np.bincount(cells.users, minlength=cells.shape[0])


def _choose_users(cells: Cells, rng, share: float, eligible: np.ndarray, folds: int | None = None,
                  fold: int = 0) -> np.ndarray:
    """A seeded `share` of all users with interactions, drawn among the eligible ones; or,
    with `folds`, fold number `fold` of a seeded partition of the eligible users into `folds`
    near-equal parts (the same seed gives the same partition, so the folds are disjoint)."""
    candidates = np.flatnonzero(eligible)
    if folds is not None:
        if folds < 2 or not 0 <= fold < folds:
            raise InputError(f"folds must be >= 2 and fold in [0, folds), got folds={folds}, fold={fold}")
        if len(candidates) < folds:
            raise InputError(f"{folds} user folds need at least {folds} users with 2+ interactions; "
                             f"the dataset has {len(candidates)}")
        return np.sort(np.array_split(rng.permutation(candidates), folds)[fold])
    active = np.count_nonzero(_user_counts(cells))
    wanted = min(len(candidates), int(round(share * active)))
    return np.sort(rng.choice(candidates, size=wanted, replace=False))


def _rank_within_user(cells: Cells, keys: np.ndarray) -> np.ndarray:
    """0-based rank of each cell among its user's cells, ordered by `keys` ascending."""
    order = np.lexsort((keys, cells.users))
    counts = _user_counts(cells)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order)) - starts[cells.users[order]]
    return ranks


def leave_one_random(cells: Cells, rng, test_users: float = 0.2, folds: int | None = None, fold: int = 0) -> np.ndarray:
    """Seeds 000/001: a share of users (or user fold `fold` of `folds`) each lose one random
    interaction to test."""
    _check_share("test_users", test_users, inclusive=True)
    chosen = np.zeros(cells.shape[0], dtype=bool)
    chosen[_choose_users(cells, rng, test_users, _user_counts(cells) >= 2, folds, fold)] = True
    ranks = _rank_within_user(cells, rng.random(len(cells.users)))
    labels = np.zeros(len(cells.users), dtype=np.int8)
    labels[chosen[cells.users] & (ranks == 0)] = TEST
    return labels


def random_holdout(cells: Cells, rng, test_ratio: float = 0.2) -> np.ndarray:
    """A seeded `test_ratio` share of all interactions, drawn uniformly."""
    _check_share("test_ratio", test_ratio)
    labels = np.zeros(len(cells.users), dtype=np.int8)
    labels[rng.choice(len(cells.users), size=int(round(test_ratio * len(cells.users))), replace=False)] = TEST
    return labels


def temporal(cells: Cells, rng, before: str | None = None, test_ratio: float | None = None,
             last: str | None = None) -> np.ndarray:
    """Seed 004: a global time cut-off — a date (`before`), the last share of interactions
    (`test_ratio`), or a window before the data's own last timestamp (`last: 7d`, a rolling
    window for nightly runs: the config never needs a new date). Interactions first seen at
    or after the cut are test; test users with no train history go to a separate cold part."""
    cells.require_time("temporal")
    if sum(option is not None for option in (before, test_ratio, last)) != 1:
        raise InputError("temporal split takes exactly one of --before DATE, --test-ratio or --last WINDOW")
    if before is not None:
        labels = (cells.times >= parse_date(before)).astype(np.int8)
    elif last is not None:
        labels = (cells.times > np.max(cells.times) - parse_window(last)).astype(np.int8)
    else:
        # The last share by (time, event order): ties at the cut-off second are broken by
        # the log's order, so the test share is exact.
        _check_share("test_ratio", test_ratio)
        held = max(1, int(round(test_ratio * len(cells.times))))
        labels = np.zeros(len(cells.times), dtype=np.int8)
        labels[np.lexsort((cells.order, cells.times))[len(labels) - held:]] = TEST
    has_train = np.bincount(cells.users[labels == TRAIN], minlength=cells.shape[0]) > 0
    labels[(labels == TEST) & ~has_train[cells.users]] = TEST_COLD
    return labels


def leave_last_out(cells: Cells, rng, n: int = 1, ties: str = "arbitrary") -> np.ndarray:
    """The last `n` interactions of each user by time; users with <= n are kept whole in train.

    Several items can share the timestamp at the cut (ratings given in the same second).
    `ties: arbitrary` holds out exactly n, breaking the tie by log order: the item whose first
    event comes later in events.parquet is held out (deterministic). `ties: all` holds out
    every item at or after the n-th last timestamp; a user all of whose items tie there
    stays whole in train. `tie_counts` says how many users were affected.
    """
    cells.require_time("leave-last-out")
    if n < 1:
        raise InputError(f"--n must be >= 1, got {n}")
    counts = _user_counts(cells)
    from_end = counts[cells.users] - 1 - _rank_within_user(cells, cells.order)
    held = (from_end < n) & (counts[cells.users] > n)
    if ties == "all":
        cut = _time_at(cells, from_end, n - 1)
        held = cells.times >= cut[cells.users]
        kept_train = np.bincount(cells.users[~held], minlength=cells.shape[0]) > 0
        held &= kept_train[cells.users] & (counts[cells.users] > n)
    return held.astype(np.int8)


def _time_at(cells: Cells, from_end: np.ndarray, position: int) -> np.ndarray:
    """Per user: the first-event time of their cell `position` places from the end (by log
    order), +inf for users with fewer cells."""
    out = np.full(cells.shape[0], np.inf)
    at = from_end == position
    out[cells.users[at]] = cells.times[at]
    return out


def tie_counts(cells: Cells, n: int = 1) -> dict[str, int]:
    """leave-last-out: users whose n-th last item shares its timestamp with the item before it
    (the cut falls inside a tie), and the cells at such tied cut timestamps."""
    counts = _user_counts(cells)
    from_end = counts[cells.users] - 1 - _rank_within_user(cells, cells.order)
    cut, before = _time_at(cells, from_end, n - 1), _time_at(cells, from_end, n)
    tied = np.isfinite(cut) & (cut == before) & (counts > n)
    at_cut = tied[cells.users] & (cells.times == cut[cells.users])
    return {"users_with_ties_at_cut": int(np.count_nonzero(tied)), "cells_at_tied_cuts": int(np.count_nonzero(at_cut))}


def user_holdout(cells: Cells, rng, test_users: float = 0.2, fold_in: float = 0.8, folds: int | None = None,
                 fold: int = 0) -> np.ndarray:
    """Strong generalisation (Liang et al. 2018): held-out users (a share, or user fold `fold`
    of `folds`) are absent from train; a `fold_in` share of each one's interactions is the
    input at recommendation time, the rest the target."""
    _check_share("test_users", test_users)
    _check_share("fold_in", fold_in)
    counts = _user_counts(cells)
    chosen = np.zeros(cells.shape[0], dtype=bool)
    chosen[_choose_users(cells, rng, test_users, counts >= 2, folds, fold)] = True
    ranks = _rank_within_user(cells, rng.random(len(cells.users)))
    # At least one target and one input interaction per held-out user.
    targets = np.clip(counts - np.round(fold_in * counts).astype(np.int64), 1, np.maximum(counts - 1, 1))
    labels = np.zeros(len(cells.users), dtype=np.int8)
    held = chosen[cells.users]
    labels[held] = np.where(ranks[held] < targets[cells.users[held]], TEST, TEST_INPUT)
    return labels
