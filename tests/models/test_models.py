"""Models on tiny hand-made matrices whose answers are known (the protocol every model
follows is tests/models/test_model_protocol.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.core.errors import InputError
from recsys_cli.models import ease
from recsys_cli.models.registry import model_class


def blocks(users_per_block=6, items_per_block=5, blocks_=2, drop=None):
    """Users of block b like every item of block b (minus `drop` (user, item) cells)."""
    dense = np.zeros((users_per_block * blocks_, items_per_block * blocks_), dtype=np.float32)
    for b in range(blocks_):
        dense[b * users_per_block:(b + 1) * users_per_block, b * items_per_block:(b + 1) * items_per_block] = 1
    for u, i in drop or []:
        dense[u, i] = 0
    return sp.csr_matrix(dense)


def test_popular_ranks_by_user_count_and_filters_seen():
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32))
    model = model_class("popular")().fit(train)
    ids, scores = model.recommend(np.array([3, 0]), train, 3)
    assert ids.tolist()[0] == [0, 2, 1]  # counts 3, 2, 1; item 3 seen
    assert ids.tolist()[1][:2] == [2, 3]  # items 0, 1 seen; then -inf filler
    assert np.isneginf(scores[1, 2])


def test_personal_popular_puts_own_repeated_items_first():
    train = sp.csr_matrix(np.array([[0, 5, 2, 0], [1, 0, 0, 0], [1, 0, 0, 0]], dtype=np.float32))
    ids, _ = model_class("personal-popular")().fit(train).recommend(np.array([0]), train, 4, filter_seen=False)
    assert ids.tolist() == [[1, 2, 0, 3]]


def test_item_knn_cooccurrence_and_jaccard_by_hand():
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]], dtype=np.float32))
    cooc = model_class("item-knn")({"similarity": "cooccurrence"}).fit(train)
    assert cooc.similarity.toarray().tolist() == [[0, 2, 0], [2, 0, 1], [0, 1, 0]]
    jac = model_class("item-knn")({"similarity": "jaccard"}).fit(train)
    assert jac.similarity.toarray() == pytest.approx(np.array([[0, 2 / 3, 0], [2 / 3, 0, 1 / 3], [0, 1 / 3, 0]]))
    ids, scores = cooc.recommend(np.array([0]), sp.csr_matrix(np.array([[1, 0, 0]], dtype=np.float32)), 2)
    assert ids.tolist() == [[1, 2]] and scores.tolist() == [[2.0, 0.0]]


def test_item_knn_neighbors_cap_and_max_items():
    train = blocks()
    capped = model_class("item-knn")({"similarity": "cosine", "neighbors": 2}).fit(train)
    assert np.diff(capped.similarity.indptr).max() <= 2
    limited = model_class("item-knn")({"similarity": "cooccurrence", "max_items": 1}).fit(train)
    history = sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=np.float32))
    full = model_class("item-knn")({"similarity": "cooccurrence"}).fit(train)
    assert limited.score(np.array([0]), history).sum() == pytest.approx(full.score(np.array([0]), history).sum() / 2)


def test_ease_matches_the_closed_form():
    train = blocks(drop=[(0, 0), (7, 6)])
    model = model_class("ease")({"l2": 2.0}).fit(train)
    x = train.toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(x.shape[1]))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0)
    assert model.weights == pytest.approx(expected.astype(np.float32), abs=1e-5)


def test_ease_refuses_a_catalogue_that_does_not_fit():
    with pytest.raises(InputError, match=r"GiB.*--min-item-interactions"):
        ease.check_fits(200_000, available=16 * 2**30)


@pytest.mark.parametrize("model_type", ["item-knn", "als", "ials", "bpr", "lmf", "ease"])
def test_personalised_models_recover_planted_blocks(model_type):
    """A user missing one item of their block gets it back first."""
    train = blocks(users_per_block=20, items_per_block=6, drop=[(0, 2), (25, 9)])
    params = {"bpr": {"iterations": 300, "factors": 8, "learning_rate": 0.1}, "lmf": {"factors": 8, "iterations": 50},
              "als": {"factors": 4}, "ials": {"factors": 4}}.get(model_type, {})
    model = model_class(model_type)(params, seed=3, threads=1).fit(train)
    ids, _ = model.recommend(np.array([0, 25]), train, 1)
    assert ids.ravel().tolist() == [2, 9]


def test_random_is_seeded_and_popularity_weighting_prefers_popular_items():
    train = sp.csr_matrix(np.vstack([np.eye(1, 50, 0)] * 40 + [np.eye(1, 50, i) for i in range(1, 50)]).astype(np.float32))
    users = np.arange(60, 89)
    a = model_class("random")(seed=5).fit(train).recommend(users, train, 5)[0]
    b = model_class("random")(seed=5).fit(train).recommend(users, train, 5)[0]
    assert np.array_equal(a, b)
    weighted = model_class("random")({"weighting": "popularity"}, seed=5).fit(train).recommend(users, train, 1)[0]
    # item 0 weighs 41 of 139 (counts + 1): ~30% of draws, against 2% when uniform
    assert np.mean(weighted == 0) > 0.15
