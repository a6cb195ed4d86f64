"""Metrics against hand-computed cases, plus hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.evaluation.metrics import coverage, membership, per_user_metrics
from recsys_cli.evaluation.statistics import bootstrap_ci
from recsys_cli.models.topk import topk

ALL = ["mrr", "hit_rate", "recall", "recall_capped", "precision", "ndcg", "map", "novelty", "unseen_share", "avg_popularity"]


def csr(rows, n_items):
    data = [(u, i) for u, items in enumerate(rows) for i in items]
    r, c = zip(*data) if data else ((), ())
    return sp.csr_matrix((np.ones(len(data)), (r, c)), shape=(len(rows), n_items))


@pytest.fixture
def case():
    top = np.array([[3, 1, 4, 0, 2], [5, 0, 1, 2, 3], [0, 1, 2, 3, 4]])
    test = csr([[1, 2], [5], [5]], 6)
    train = csr([[0], [4], [1]], 6)
    popularity = np.array([4.0, 2.0, 1.0, 0.0, 8.0, 1.0])
    return top, test, train, popularity


def test_hand_computed_values(case):
    top, test, train, popularity = case
    m = per_user_metrics(top, test, train, popularity, n_train_users=8, ks=[1, 2, 5], names=ALL)
    # user 0: hits at 1-based positions 2 and 5 of [3, 1, 4, 0, 2]; 2 test items
    assert m["mrr@5"].tolist() == [0.5, 1.0, 0.0]
    assert m["mrr@1"].tolist() == [0.0, 1.0, 0.0]
    assert m["hit_rate@2"].tolist() == [1.0, 1.0, 0.0]
    assert m["recall@2"].tolist() == [0.5, 1.0, 0.0]
    assert m["recall@5"].tolist() == [1.0, 1.0, 0.0]
    assert m["recall_capped@1"].tolist() == [0.0, 1.0, 0.0]
    assert m["precision@5"].tolist() == [0.4, 0.2, 0.0]
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    assert m["ndcg@5"][0] == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert m["ndcg@5"][1] == pytest.approx(1.0)
    assert m["map@5"][0] == pytest.approx((1 / 2 + 2 / 5) / 2)
    # novelty: -log2(share of 8 train users); item 3 has no user, counted as one
    info = -np.log2(np.maximum(popularity, 1) / 8)
    assert m["novelty@2"][0] == pytest.approx((info[3] + info[1]) / 2)
    # user 2 has item 1 in train and it is recommended at rank 2
    assert m["unseen_share@2"].tolist() == [1.0, 1.0, 0.5]
    assert m["avg_popularity@2"][1] == pytest.approx((1.0 + 4.0) / 2)
    assert coverage(top, 1, 6) == pytest.approx(3 / 6)


def test_membership_handles_empty_rows():
    hits = membership(np.array([[0, 1], [2, 3]]), csr([[], [3]], 4))
    assert hits.tolist() == [[False, False], [False, True]]


def test_topk_breaks_ties_by_item_index_and_orders_negatives():
    scores = np.array([[1.0, 3.0, 3.0, -2.0, -np.inf, 3.0], [-1.0, -0.5, -3.0, 0.0, -0.5, -1.0]], dtype=np.float32)
    ids, values = topk(scores, 4)
    assert ids.tolist() == [[1, 2, 5, 0], [3, 1, 4, 0]]
    assert values[1].tolist() == [0.0, -0.5, -0.5, -1.0]


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 30), st.integers(1, 12), st.integers(0, 10_000))
def test_topk_matches_a_stable_full_sort(n_items, k, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(-3, 3, (4, n_items)).astype(np.float32)  # many ties
    ids, _ = topk(scores, k)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :min(k, n_items)]
    assert np.array_equal(ids, expected)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 15), st.integers(1, 10), st.integers(0, 10_000))
def test_metric_ranges_and_monotonicity(n_items, k, seed):
    rng = np.random.default_rng(seed)
    top = np.argsort(rng.random((5, n_items)), axis=1)
    test = csr([list(rng.choice(n_items, rng.integers(1, n_items + 1), replace=False)) for _ in range(5)], n_items)
    train = csr([[] for _ in range(5)], n_items)
    ks = sorted({1, min(k, n_items), n_items})
    m = per_user_metrics(top, test, train, np.ones(n_items), 5, ks, ALL)
    for name in ("mrr", "hit_rate", "recall", "recall_capped", "precision", "ndcg", "map"):
        for key in ks:
            assert np.all((m[f"{name}@{key}"] >= 0) & (m[f"{name}@{key}"] <= 1 + 1e-12))
    for name in ("mrr", "hit_rate", "recall"):
        assert np.all(np.diff(np.stack([m[f"{name}@{key}"] for key in ks]), axis=0) >= -1e-12)
    assert np.allclose(m[f"recall@{n_items}"], 1.0)  # the whole catalogue finds everything


def test_bootstrap_interval_brackets_the_mean_and_is_seeded():
    values = np.random.default_rng(0).random(500)
    low, high = bootstrap_ci(values, seed=1)
    assert low < values.mean() < high and high - low < 0.1
    assert (low, high) == bootstrap_ci(values, seed=1)
    assert bootstrap_ci(np.ones(10)) == (1.0, 1.0)
