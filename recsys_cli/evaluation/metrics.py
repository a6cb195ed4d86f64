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

The registry: a metric is a `Metric` — its name, its direction (higher or lower is better),
whether it takes a cut-off K, and one function of a `Cutoff` (one batch of users' top-K lists
against their held-out items) giving per-user values. Config validation, tuning objectives,
the best-value marking of tables and the docs read `METRICS`. Adding a metric is one
function and one `register(Metric(...))` line (docs/architecture.md has a worked example).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np


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


class Batch:
    """One batch of users' top lists against their held-out and seen items: what every
    metric reads, each part computed once, on first use."""

    def __init__(self, top_ids: np.ndarray, test_rows, train_rows, popularity: np.ndarray, n_train_users: int,
                 valid: np.ndarray | None = None):
        self.top_ids = top_ids
        self.test_rows, self.train_rows = test_rows, train_rows
        self.valid = np.ones(top_ids.shape, dtype=bool) if valid is None else valid
        self.popularity = None if popularity is None else np.asarray(popularity, dtype=np.float64)
        self.n_train_users = n_train_users

    @functools.cached_property
    def hits(self) -> np.ndarray:
        return membership(self.top_ids, self.test_rows) & self.valid

    @functools.cached_property
    def seen(self) -> np.ndarray:
        return membership(self.top_ids, self.train_rows) & self.valid

    @functools.cached_property
    def n_test(self) -> np.ndarray:
        return np.diff(self.test_rows.indptr).astype(np.float64)

    @functools.cached_property
    def information(self) -> np.ndarray:
        """Self-information of each item: -log2 of the share of train users who have it."""
        return -np.log2(np.maximum(self.popularity, 1.0) / max(self.n_train_users, 1))

    @functools.cached_property
    def discount(self) -> np.ndarray:
        return 1.0 / np.log2(np.arange(self.top_ids.shape[1]) + 2.0)


class Cutoff:
    """A `Batch` at cut-off K: the first K entries of every list."""

    def __init__(self, batch: Batch, k: int):
        self.batch, self.k = batch, k

    @functools.cached_property
    def hits(self) -> np.ndarray:
        return self.batch.hits[:, :self.k]

    @functools.cached_property
    def listed(self) -> np.ndarray:
        return self.batch.valid[:, :self.k]

    @functools.cached_property
    def n_listed(self) -> np.ndarray:
        """Valid recommendations per user (at least 1, so a user with none gets 0, not NaN)."""
        return np.maximum(self.listed.sum(axis=1), 1).astype(np.float64)

    @functools.cached_property
    def found(self) -> np.ndarray:
        return self.hits.sum(axis=1).astype(np.float64)

    @functools.cached_property
    def capped(self) -> np.ndarray:
        return np.minimum(self.k, self.batch.n_test)

    @functools.cached_property
    def precision_sum(self) -> np.ndarray:
        """Sum over hit positions of precision at that position (average precision's numerator)."""
        h = self.hits
        return (np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1) * h).sum(axis=1)

    def item_mean(self, per_item: np.ndarray) -> np.ndarray:
        """Mean of a per-item value over each user's valid recommendations."""
        top = self.batch.top_ids[:, :self.k]
        return np.where(self.listed, per_item[top], 0.0).sum(axis=1) / self.n_listed


MetricKind = Literal["ranking", "beyond-accuracy", "catalogue", "rating"]


@dataclass(frozen=True)
class Metric:
    """One metric: `per_user(cutoff) -> values` (None for a catalogue-level or rating metric,
    computed elsewhere), its direction, and whether it takes a cut-off K."""

    name: str
    kind: MetricKind
    per_user: Callable[[Cutoff], np.ndarray] | None
    higher_is_better: bool = True
    needs_k: bool = True
    description: str = ""
    reads_popularity: bool = False  # per_user reads the train popularity of items (Batch.popularity)


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    METRICS[metric.name] = metric
    return metric


def selectable() -> list[str]:
    """Metrics a config's `metrics.names` (and a tune objective) may name: all but the
    rating errors, which every rating-predicting model gets without asking."""
    return [name for name, metric in METRICS.items() if metric.kind != "rating"]


def lower_is_better() -> set[str]:
    return {name for name, metric in METRICS.items() if not metric.higher_is_better}


def best_of(values: dict[str, float], metric: str) -> str | None:
    """The key (a model) with the best value of `metric` ("mrr@100", "rmse"): the highest, or
    the lowest for a lower-is-better metric; None when there are no values."""
    if not values:
        return None
    return (min if metric.split("@")[0] in lower_is_better() else max)(values, key=values.get)


def _mrr(c: Cutoff) -> np.ndarray:
    first = np.argmax(c.hits, axis=1)
    return np.where(c.hits.any(axis=1), 1.0 / (first + 1.0), 0.0)


def _ndcg(c: Cutoff) -> np.ndarray:
    discount = c.batch.discount[:c.k]
    ideal = np.cumsum(discount)[c.capped.astype(np.int64) - 1]
    return (c.hits * discount).sum(axis=1) / ideal


for _metric in (
    Metric("mrr", "ranking", _mrr, description="1/(p+1) for the first hit at 0-based position p, else 0"),
    Metric("hit_rate", "ranking", lambda c: c.hits.any(axis=1).astype(np.float64),
           description="1 if any held-out item is in the top K"),
    Metric("recall", "ranking", lambda c: c.found / c.batch.n_test, description="hits / |test|"),
    Metric("recall_capped", "ranking", lambda c: c.found / c.capped, description="hits / min(K, |test|)"),
    Metric("precision", "ranking", lambda c: c.found / c.k, description="hits / K"),
    Metric("ndcg", "ranking", _ndcg, description="binary gains; ideal DCG over min(K, |test|) items"),
    Metric("map", "ranking", lambda c: c.precision_sum / c.capped,
           description="sum of precision at each hit / min(K, |test|)"),
    Metric("map_rel", "ranking", lambda c: c.precision_sum / c.batch.n_test,
           description="sum of precision at each hit / |test|"),
    Metric("novelty", "beyond-accuracy", lambda c: c.item_mean(c.batch.information), reads_popularity=True,
           description="mean -log2(share of train users with the item) of the recommended items"),
    Metric("unseen_share", "beyond-accuracy",
           lambda c: np.where(c.listed.any(axis=1), 1.0 - c.batch.seen[:, :c.k].sum(axis=1) / c.n_listed, 0.0),
           description="share of recommended items the user had not seen in train"),
    Metric("avg_popularity", "beyond-accuracy", lambda c: c.item_mean(c.batch.popularity), higher_is_better=False,
           reads_popularity=True,
           description="mean number of train users of the recommended items"),
    Metric("coverage", "catalogue", None, description="distinct recommended items / catalogue size"),
    Metric("rmse", "rating", None, higher_is_better=False, needs_k=False,
           description="root mean squared error of predicted held-out ratings"),
    Metric("mae", "rating", None, higher_is_better=False, needs_k=False,
           description="mean absolute error of predicted held-out ratings"),
):
    register(_metric)


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
    `popularity` (users per item in train) is needed by the metrics that read it only."""
    batch = Batch(top_ids, test_rows, train_rows, popularity, n_train_users, valid)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        cutoff = Cutoff(batch, k)
        for name in names:
            compute = METRICS[name].per_user
            if compute is not None:
                out[f"{name}@{k}"] = np.asarray(compute(cutoff), dtype=np.float64)
    return out


def coverage(top_ids: np.ndarray, k: int, n_items: int, valid: np.ndarray | None = None) -> float:
    """Distinct items among the valid entries of the top-k lists, over the catalogue size."""
    listed = top_ids[:, :k] if valid is None else top_ids[:, :k][valid[:, :k]]
    return len(np.unique(listed)) / n_items
