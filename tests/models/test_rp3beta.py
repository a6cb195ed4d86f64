"""RP3beta against a hand-computed walk and a dense reference of the formula."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.models import rp3beta
from recsys_cli.models.registry import model_class

X = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=np.float32))


def test_hand_computed_walk():
    # item 0 -> users 0, 1, 3 (1/3 each) -> item 1: user 0 goes there w.p. 1/2, user 3 w.p. 1/3
    model = model_class("rp3beta")({"alpha": 1.0, "beta": 0.0, "neighbors": 10}).fit(X)
    assert model.similarity[0, 1] == pytest.approx(1 / 6 + 1 / 9)
    assert model.similarity.diagonal().tolist() == [0, 0, 0]
    # beta divides by the arrival item's popularity (item 1 has 3 users)
    penalised = model_class("rp3beta")({"alpha": 1.0, "beta": 1.0, "neighbors": 10}).fit(X)
    assert penalised.similarity[0, 1] == pytest.approx((1 / 6 + 1 / 9) / 3)
    ids, scores = model.recommend(np.array([0]), X, 3)
    assert ids[0, 0] == 2 and scores[0, 0] == pytest.approx(2 * (1 / 6 + 1 / 9))
    assert np.isneginf(scores[0, 1:]).all()  # seen items filtered


def dense_reference(matrix: np.ndarray, alpha: float, beta: float, neighbors: int) -> np.ndarray:
    binary = (matrix > 0).astype(float)
    pui = binary / np.maximum(binary.sum(1, keepdims=True), 1e-300)
    piu = binary.T / np.maximum(binary.T.sum(1, keepdims=True), 1e-300)
    popularity = binary.sum(0)
    w = (piu**alpha) @ (pui**alpha) * np.where(popularity > 0, np.maximum(popularity, 1) ** -beta, 0)
    np.fill_diagonal(w, 0)
    out = np.zeros_like(w)
    for i in range(len(w)):  # reference only: tiny matrices
        order = np.lexsort((np.arange(len(w)), -w[i]))[:neighbors]
        out[i, order] = w[i, order]
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16), st.floats(0.1, 2.0), st.floats(0.0, 1.0), st.integers(1, 6))
def test_matches_the_dense_formula(seed, alpha, beta, neighbors):
    rng = np.random.default_rng(seed)
    matrix = (rng.random((9, 7)) < 0.4).astype(np.float32)
    model = model_class("rp3beta")({"alpha": alpha, "beta": beta, "neighbors": neighbors}).fit(sp.csr_matrix(matrix))
    expected = dense_reference(matrix, alpha, beta, neighbors)
    got = model.similarity.toarray()
    # ties at the neighbour cut may keep a different item of equal weight: compare the kept mass per row
    assert np.allclose(np.sort(got, axis=1), np.sort(expected, axis=1), atol=1e-6)


def test_blocks_give_the_same_similarity(monkeypatch):
    rng = np.random.default_rng(0)
    matrix = sp.csr_matrix((rng.random((40, 30)) < 0.3).astype(np.float32))
    whole = model_class("rp3beta")({"neighbors": 5}).fit(matrix).similarity.toarray()
    monkeypatch.setattr(rp3beta, "ITEMS_PER_BLOCK", 7)
    blocked = model_class("rp3beta")({"neighbors": 5}).fit(matrix).similarity.toarray()
    assert np.allclose(whole, blocked)


def test_save_load_round_trip(tmp_path):
    model = model_class("rp3beta")({"neighbors": 2, "normalize": True}).fit(X)
    assert np.allclose(np.asarray(model.similarity.sum(axis=1)).ravel(), 1.0)
    model.save(tmp_path)
    loaded = model_class("rp3beta").load(tmp_path)
    assert np.array_equal(loaded.recommend(np.arange(4), X, 3)[0], model.recommend(np.arange(4), X, 3)[0])
    assert np.array_equal(loaded.similar_items(np.arange(3), 2)[0], model.similar_items(np.arange(3), 2)[0])
