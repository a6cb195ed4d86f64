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


def test_map_rel_divides_by_all_relevant_items():
    # user 0 has hits at 1-based positions 2 and 5 of 5, and 3 test items; K = 2 sees only one hit
    top = np.array([[3, 1, 4, 0, 2]])
    test = csr([[1, 2, 5]], 6)
    m = per_user_metrics(top, test, csr([[]], 6), np.ones(6), 1, [2, 5], ["map", "map_rel"])
    assert m["map@2"][0] == pytest.approx((1 / 2) / 2)  # / min(K, |rel|) = 2
    assert m["map_rel@2"][0] == pytest.approx((1 / 2) / 3)  # / |rel| = 3
    assert m["map@5"][0] == pytest.approx((1 / 2 + 2 / 5) / 3)
    assert m["map_rel@5"][0] == pytest.approx((1 / 2 + 2 / 5) / 3)


def test_padding_and_seen_items_scored_minus_inf_never_count():
    # 4 items; user 0 saw items 0 and 1, so a top-4 list has two real recommendations and two
    # seen items filtered to -inf; user 1 has a padded id -1.
    top = np.array([[2, 3, 0, 1], [1, 0, -1, -1]])
    scores = np.array([[0.9, 0.5, -np.inf, -np.inf], [0.3, 0.2, -np.inf, -np.inf]], dtype=np.float32)
    test = csr([[3], [0]], 4)
    train = csr([[0, 1], [2]], 4)
    popularity = np.array([1.0, 2.0, 4.0, 8.0])
    names = ["novelty", "unseen_share", "avg_popularity", "precision", "recall"]
    m = per_user_metrics(top, test, train, popularity, 8, [4], names, valid=np.isfinite(scores))
    info = -np.log2(popularity / 8)
    assert m["novelty@4"].tolist() == pytest.approx([(info[2] + info[3]) / 2, (info[1] + info[0]) / 2])
    assert m["avg_popularity@4"].tolist() == pytest.approx([6.0, 1.5])
    assert m["unseen_share@4"].tolist() == [1.0, 1.0]
    assert m["precision@4"].tolist() == [0.25, 0.25]  # precision keeps K as its denominator
    assert coverage(top, 4, 4, valid=np.isfinite(scores)) == pytest.approx(4 / 4)
    assert coverage(top[:1], 4, 4, valid=np.isfinite(scores[:1])) == pytest.approx(2 / 4)


def test_beyond_accuracy_values_are_float64_exact():
    # popularity ~2,000 with a fractional part that float32 cannot hold
    popularity = np.array([2000.0001, 2001.0003, 1999.0007], dtype=np.float64)
    m = per_user_metrics(np.array([[0, 1, 2]]), csr([[0]], 3), csr([[]], 3), popularity, 3, [3], ["avg_popularity"])
    assert m["avg_popularity@3"].dtype == np.float64
    assert m["avg_popularity@3"][0] == pytest.approx(popularity.mean(), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(0, 2**16))
def test_valid_part_metrics_equal_metrics_of_the_truncated_list(n_valid, seed):
    """Scoring a list with an invalid tail equals scoring only its valid prefix."""
    rng = np.random.default_rng(seed)
    n_items, k = 12, 8
    top = rng.permutation(n_items)[None, :k]
    valid = np.arange(k)[None, :] < n_valid
    test, train = csr([rng.choice(n_items, 2, replace=False).tolist()], n_items), csr([[]], n_items)
    popularity = rng.integers(1, 50, n_items).astype(float)
    names = ["novelty", "avg_popularity", "mrr", "ndcg", "recall"]
    full = per_user_metrics(top, test, train, popularity, 50, [k], names, valid=valid)
    prefix = per_user_metrics(top[:, :n_valid], test, train, popularity, 50, [n_valid], names)
    for name in ("novelty", "avg_popularity", "mrr", "recall"):
        assert full[f"{name}@{k}"][0] == pytest.approx(prefix[f"{name}@{n_valid}"][0])
