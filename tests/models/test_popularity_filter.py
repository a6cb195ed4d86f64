"""Popularity's seen-filter (models/topk.py ranked_unseen) against the list read by hand, the
ranking sorted once per model, and the bootstrap by distinct values (evaluation/statistics.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.evaluation.metrics import SHORT_ROWS, membership
from recsys_cli.evaluation.statistics import bootstrap_means, _means_by_value, bootstrap_ci
from recsys_cli.models.popular import Popular
from recsys_cli.models.topk import ranked_unseen


def by_hand(ranking, scores, seen_rows, k):
    """Walk the ranking per user: unseen entries first, then the seen ones (-inf), in list order."""
    ids, values = [], []
    for seen in seen_rows:
        unseen = [(i, s) for i, s in zip(ranking, scores) if i not in seen]
        padding = [(i, -np.inf) for i in ranking if i in seen]
        top = (unseen + padding)[:k]
        ids.append([i for i, _ in top])
        values.append([s for _, s in top])
    return ids, values


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n_items: st.tuples(
    st.permutations(range(n_items)),
    st.lists(st.sets(st.integers(0, n_items - 1)), min_size=0, max_size=5),
    st.integers(1, n_items + 3))))
def test_each_user_gets_the_ranking_without_their_seen_items(case):
    ranking, seen_rows, k = case
    ranking = np.array(ranking)
    scores = np.arange(len(ranking), 0, -1).astype(np.float32)
    rows = [sorted(seen) for seen in seen_rows]
    history = sp.csr_matrix((np.ones(sum(map(len, rows)), np.float32), [i for r in rows for i in r],
                             np.cumsum([0, *map(len, rows)])), shape=(len(rows), len(ranking)))
    ids, values = ranked_unseen(ranking, scores, history, k)
    expected_ids, expected_values = by_hand(ranking.tolist(), scores.tolist(), seen_rows, k)
    assert ids.tolist() == expected_ids and values.tolist() == expected_values


def test_a_history_with_unsorted_rows_is_filtered_the_same():
    ranking = np.array([4, 2, 0, 3, 1])
    history = sp.csr_matrix((np.ones(3, np.float32), np.array([4, 2, 0]), np.array([0, 2, 3])), shape=(2, 5))
    assert not history.has_sorted_indices
    ids, _ = ranked_unseen(ranking, np.arange(5, 0, -1, dtype=np.float32), history, 3)
    assert ids.tolist() == [[0, 3, 1], [4, 2, 3]]


def test_the_ranking_is_sorted_once_per_model_not_per_call(monkeypatch):
    train = sp.csr_matrix(np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 1]], np.float32))
    model = Popular().fit(train)
    assert model.ranking.tolist() == [0, 1, 2, 3]  # 3, 2, 1, 1 users: ties by item index
    calls = []
    real_argsort = np.argsort
    monkeypatch.setattr(np, "argsort", lambda *a, **kw: calls.append(1) or real_argsort(*a, **kw))
    ids, _ = model.recommend(np.arange(4), train, 2)
    assert ids.tolist() == [[1, 3], [2, 3], [0, 2], [1, 2]] and calls == []
    loaded = Popular()
    loaded.set_state(model.state())
    assert loaded.ranking.tolist() == model.ranking.tolist()


@pytest.mark.parametrize("rows", [[[1], [], [0, 3]], [list(range(10)), [2, 4, 1, 0, 3, 5, 6], [4]]],
                         ids=["short rows (held-out items)", "long rows (histories)"])
def test_membership_finds_every_listed_item_of_its_row(rows):
    top = np.array([[1, 2, 3], [4, 0, 1], [3, 0, 9]])
    matrix = sp.csr_matrix((np.ones(sum(map(len, rows))), [i for r in rows for i in r],
                            np.cumsum([0, *map(len, rows)])), shape=(3, 10))
    expected = [[t in r for t in row] for row, r in zip(top.tolist(), rows)]
    assert (matrix.nnz <= SHORT_ROWS * 3) == (len(rows[0]) == 1)  # each case takes its own path
    assert membership(top, matrix).tolist() == expected


def test_bootstrap_by_value_draws_the_same_distribution_as_by_user():
    values = np.repeat([0.0, 0.25, 0.5, 1.0], [600, 200, 150, 50])
    distinct, counts = np.unique(values, return_counts=True)
    by_value = _means_by_value(distinct, counts, 4000, np.random.default_rng(1))
    by_user = bootstrap_means(values, 4000, np.random.default_rng(2))
    assert by_value.mean() == pytest.approx(values.mean(), abs=1e-3)
    assert by_value.std() == pytest.approx(by_user.std(), rel=0.06)  # sd of the mean: 0.0105
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
