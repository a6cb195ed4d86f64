"""The models of issue 27 on tiny matrices whose answers are known by hand: DLAE and EDLAE
(Steck 2020), sparse EASE, and the validation-fitted blend."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.core.errors import InputError
from recsys_cli.models import blend, sparse_ease
from recsys_cli.models.registry import build_model, model_class


def likes(seed: int = 0, users: int = 40, items: int = 9, density: float = 0.4) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((users, items)) < density).astype(np.float32))


def gram(train) -> np.ndarray:
    return (train.T @ train).toarray().astype(np.float64)


# --- DLAE / EDLAE ------------------------------------------------------------------------

def test_dlae_without_dropout_is_the_ridge_solution():
    train = likes()
    g = gram(train)
    weights = model_class("dlae")({"dropout": 0.0, "l2": 2.0}).fit(train).weights
    assert weights == pytest.approx(np.linalg.solve(g + 2.0 * np.eye(9), g), abs=1e-5)


def test_dlae_dropout_is_a_popularity_weighted_ridge():
    # p = 0.5: Lambda = 0.5 / 0.5 * diag(G) + l2 = G_ii + 1
    train = likes(1)
    g = gram(train)
    lam = np.diag(np.diag(g) + 1.0)
    weights = model_class("dlae")({"dropout": 0.5, "l2": 1.0}).fit(train).weights
    assert weights == pytest.approx(np.linalg.solve(g + lam, g), abs=1e-5)


def test_dlae_by_hand_on_two_items():
    # Two items liked together by 2 users, item 0 alone by 1: G = [[3, 2], [2, 2]].
    # p = 0, l2 = 1: B = (G + I)^-1 G = [[4, 2], [2, 3]]^-1 [[3, 2], [2, 2]] = [[5, 2], [2, 4]] / 8
    train = sp.csr_matrix(np.array([[1, 1], [1, 1], [1, 0]], dtype=np.float32))
    weights = model_class("dlae")({"dropout": 0.0, "l2": 1.0}).fit(train).weights
    assert weights == pytest.approx(np.array([[5, 2], [2, 4]]) / 8, abs=1e-6)


def test_edlae_has_a_zero_diagonal_and_is_ease_without_dropout():
    train = likes(2)
    edlae = model_class("edlae")({"dropout": 0.3, "l2": 5.0}).fit(train).weights
    assert np.all(np.diag(edlae) == 0)
    plain = model_class("edlae")({"dropout": 0.0, "l2": 5.0}).fit(train).weights
    assert plain == pytest.approx(model_class("ease")({"l2": 5.0}).fit(train).weights, abs=1e-6)


def test_edlae_columns_are_the_constrained_ridge_regressions():
    """Column j minimises ||X_j - X b||^2 + b^T Lambda b with b_j = 0: the ridge regression of
    X_j on the other items with the dropout penalty diag(Lambda) on each."""
    train = likes(3)
    x = train.toarray().astype(np.float64)
    g = gram(train)
    lam = 0.25 / 0.75 * np.diag(g) + 3.0
    weights = model_class("edlae")({"dropout": 0.25, "l2": 3.0}).fit(train).weights
    for j in range(g.shape[0]):
        others = np.delete(np.arange(g.shape[0]), j)
        column = np.linalg.solve(g[np.ix_(others, others)] + np.diag(lam[others]), x[:, others].T @ x[:, j])
        assert weights[others, j] == pytest.approx(column, abs=1e-5)


def test_dropout_and_l2_cannot_both_be_zero():
    with pytest.raises(ValueError, match="cannot both be 0"):
        model_class("dlae")({"dropout": 0.0, "l2": 0.0})


def test_pure_dropout_handles_an_item_nobody_has():
    train = likes(4).tolil()
    train[:, 3] = 0
    for model_type in ("dlae", "edlae"):
        weights = model_class(model_type)({"dropout": 0.5, "l2": 0.0}).fit(train.tocsr()).weights
        assert np.all(np.isfinite(weights))
        assert not np.any(np.delete(weights[3], 3)) and not np.any(np.delete(weights[:, 3], 3))


# --- sparse EASE -------------------------------------------------------------------------

def test_sparse_ease_with_every_neighbour_is_ease():
    train = likes(5)
    sparse = model_class("sparse-ease")({"l2": 2.0, "neighbors": 8}).fit(train).weights.toarray()
    assert sparse == pytest.approx(model_class("ease")({"l2": 2.0}).fit(train).weights, abs=1e-5)


def test_sparse_ease_columns_are_ridge_regressions_on_the_nearest_items():
    train = likes(6)
    x, g = train.toarray().astype(np.float64), gram(train)
    cosine = g / np.sqrt(np.outer(np.diag(g), np.diag(g)))
    for by, closeness in (("cooccurrence", g), ("cosine", cosine)):
        weights = model_class("sparse-ease")({"l2": 4.0, "neighbors": 3, "neighbor_by": by}).fit(train).weights
        check_columns(weights.toarray(), closeness, x, g)


def check_columns(weights, closeness, x, g):
    for j in range(9):
        counts = np.where(np.arange(9) == j, -1, closeness[:, j])
        top = np.lexsort((np.arange(9), -counts))[:3]  # nearest first, ties by index
        column = np.linalg.solve(g[np.ix_(top, top)] + 4.0 * np.eye(3), x[:, top].T @ x[:, j])
        assert weights[top, j] == pytest.approx(column, abs=1e-5)
        assert np.count_nonzero(weights[:, j]) <= 3 and weights[j, j] == 0


def test_sparse_ease_pads_an_item_with_few_cooccurring_items():
    # Item 2 co-occurs with item 0 only: its column may have one weight, whatever `neighbors`.
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32))
    weights = model_class("sparse-ease")({"l2": 1.0, "neighbors": 2}).fit(train).weights.toarray()
    assert weights[1, 2] == 0 and weights[0, 2] == pytest.approx(1 / (3 + 1))


def test_sparse_ease_states_and_checks_its_memory_before_fitting():
    cost = sparse_ease.estimate(104_503, 200, 5_900_000)
    assert cost["parts"]["weights"] == 2 * 104_503 * 200 * 8
    assert cost["peak_bytes"] < cost["dense_ease_bytes"] / 50  # the Dzen shape: ~1 GiB against 122 GiB
    with pytest.raises(InputError, match="lower `neighbors`"):
        sparse_ease.check_fits(cost, available=2**30)
    seen = []
    model = model_class("sparse-ease")({"neighbors": 3})
    model.on_progress = lambda done, total, what: seen.append(what)
    model.fit(likes(7))
    assert "expected peak" in seen[0] and model.report_details()["estimate"]["peak_bytes"] > 0


def test_sparse_ease_batches_that_overflow_the_gram_block_are_halved(monkeypatch):
    train = likes(8, users=60, items=30)
    whole = model_class("sparse-ease")({"neighbors": 6}).fit(train).weights.toarray()
    monkeypatch.setattr(sparse_ease, "UNION_BUDGET", 8)
    halved = model_class("sparse-ease")({"neighbors": 6}).fit(train).weights.toarray()
    assert halved == pytest.approx(whole, abs=1e-6)


# --- blend -------------------------------------------------------------------------------

def test_simplex_grid_and_normalisation_by_hand():
    grid = blend.simplex_grid(3, 0.5)
    assert sorted(map(tuple, grid.tolist())) == sorted([(0, 0, 1), (0, 0.5, 0.5), (0, 1, 0), (0.5, 0, 0.5),
                                                        (0.5, 0.5, 0), (1, 0, 0)])
    history = sp.csr_matrix(np.array([[0, 0, 0, 1]], dtype=np.float32))
    z = blend.normalise(np.array([[1, 2, 3, 100]], dtype=np.float32), history, "zscore")
    assert z[0, :3] == pytest.approx([-np.sqrt(1.5), 0, np.sqrt(1.5)])  # mean 2, sd sqrt(2/3); item 3 is seen
    scaled = blend.normalise(np.array([[1, 2, 3, 100]], dtype=np.float32), history, "minmax")
    assert scaled[0, :3] == pytest.approx([0, 0.5, 1])


def planted_blocks(seed: int = 0) -> sp.csr_matrix:
    """Two taste blocks of 6 items: users like most of their block and nothing else."""
    rng = np.random.default_rng(seed)
    block_of_user = np.arange(80) % 2
    dense = (block_of_user[:, None] == (np.arange(12) // 6)[None, :]) & (rng.random((80, 12)) < 0.7)
    return sp.csr_matrix(dense.astype(np.float32))


def test_blend_puts_all_weight_on_a_perfect_component():
    train = planted_blocks()
    model = build_model("blend", {"components": [{"type": "random"}, {"type": "ease", "params": {"l2": 1.0}}],
                                  "grid_step": 0.25}).fit(train)
    assert model.weights.tolist() == [0.0, 1.0]
    assert model.validation["components_mrr@100"]["ease_1"] > 2 * model.validation["components_mrr@100"]["random_0"]
    assert list(model.serving) == [1]  # a zero-weight component is not refitted on the whole train


def test_blend_weights_come_from_train_alone_and_are_seeded():
    train = planted_blocks(1)
    spec = {"components": [{"type": "popular"}, {"type": "item-knn"}]}
    first = build_model("blend", spec, seed=5).fit(train)
    again = build_model("blend", spec, seed=5).fit(train)
    assert first.weights.tolist() == again.weights.tolist() and first.validation == again.validation
    share = first.validation["users"] / np.count_nonzero(np.diff(train.indptr) >= 2)
    assert share == pytest.approx(0.2, abs=0.02)


def test_blend_scores_components_that_only_recommend():
    train = planted_blocks(2)
    model = build_model("blend", {"components": [{"type": "ials", "params": {"factors": 4, "iterations": 3}},
                                                 {"type": "popular"}]}, threads=1).fit(train)
    users = np.array([7, 3])
    scores = model.score(users, train[users])
    assert scores.shape == (2, 12) and np.all(np.isfinite(scores))


def test_blend_refuses_bad_components():
    with pytest.raises(ValueError, match="unknown component type"):
        blend.BlendParams.build().model_validate({"components": [{"type": "eas"}, {"type": "popular"}]})
    with pytest.raises(ValueError, match="at least 2"):
        blend.BlendParams.build().model_validate({"components": [{"type": "ease"}]})
    with pytest.raises(ValueError, match="l2"):
        blend.BlendParams.build().model_validate({"components": [{"type": "ease", "params": {"l2": -1}}, {"type": "popular"}]})
    with pytest.raises(ValueError, match="divide 1"):
        blend.BlendParams.build().model_validate({"grid_step": 0.3})
    with pytest.raises(InputError, match="two or more interactions"):
        build_model("blend").fit(sp.csr_matrix(np.eye(4, dtype=np.float32)))
