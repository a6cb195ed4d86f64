"""ials-rendle against implicit's iALS on the shared objective (alpha0 = 1, nu = 0), and its
frequency-scaled regularisation by hand."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.models.ials_rendle import IALSRendle, frequency_regularization, loss


def _tiny():
    rng = np.random.default_rng(3)
    dense = (rng.random((30, 20)) < 0.25) * rng.integers(1, 4, (30, 20))
    return sp.csr_matrix(dense.astype(np.float32))


def _implicit_losses(train, alpha, regularization, factors, initial, iterations, use_cg):
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    confidence = train.copy()
    confidence.data = 1.0 + alpha * confidence.data
    losses = []
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=1.0, iterations=1,
                                        use_cg=use_cg, random_state=0, num_threads=1)
        model.user_factors, model.item_factors = initial[0].copy(), initial[1].copy()
        for _ in range(iterations):
            model.fit(confidence, show_progress=False)
            losses.append(loss(confidence, model.user_factors, model.item_factors, 1.0, regularization, 0.0))
    return losses


@pytest.mark.parametrize("cg_steps", [0, 3])
def test_equal_loss_to_implicit_when_alpha0_is_one_and_nu_zero(cg_steps):
    train = _tiny()
    params = {"factors": 4, "regularization": 0.3, "alpha0": 1.0, "nu": 0.0, "alpha": 2.0, "cg_steps": cg_steps}
    model = IALSRendle({**params, "iterations": 1})
    initial = model.initial_factors(*train.shape)
    reference = _implicit_losses(train, 2.0, 0.3, 4, initial, 5, use_cg=cg_steps > 0)
    ours, start = [], initial
    confidence = model.confidence(train)
    for _ in range(5):
        model.fit(train, initial=start)
        start = (model.user_factors, model.item_factors)
        ours.append(loss(confidence, *start, 1.0, 0.3, 0.0))
    np.testing.assert_allclose(ours, reference, rtol=1e-4)
    assert ours[-1] < ours[0]


def test_exact_solve_is_a_descent_method_with_rendle_weights():
    train = _tiny()
    model = IALSRendle({"factors": 6, "regularization": 0.01, "alpha0": 0.1, "nu": 1.0, "cg_steps": 0, "iterations": 1})
    start = model.initial_factors(*train.shape)
    confidence = model.confidence(train)
    previous = loss(confidence, *start, 0.1, 0.01, 1.0)
    for _ in range(4):
        model.fit(train, initial=start)
        start = (model.user_factors, model.item_factors)
        current = loss(confidence, *start, 0.1, 0.01, 1.0)
        assert current <= previous + 1e-9
        previous = current


def test_frequency_regularization_by_hand():
    matrix = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 0]], dtype=np.float32))
    users, items = frequency_regularization(matrix, alpha0=0.5, regularization=2.0, nu=1.0)
    assert users.tolist() == [2.0 * (2 + 1.5), 2.0 * (1 + 1.5)]
    assert items.tolist() == [2.0 * (1 + 1.0), 2.0 * (2 + 1.0), 2.0 * (0 + 1.0)]


def test_recommends_unseen_items_and_folds_in():
    train = _tiny()
    model = IALSRendle({"factors": 4, "iterations": 3}).fit(train)
    users = np.arange(train.shape[0])
    ids, scores = model.recommend(users, train, 5)
    assert not train[users[:, None], ids].toarray().any()
    folded, _ = model.recommend(users[:3], train, 5, fold_in=True)
    assert folded.shape == (3, 5)


def test_default_space_holds_the_defaults_and_rendles_published_optimum():
    """The defaults are the search's first trial, so they must lie inside; Rendle et al.'s
    ML-20M setting (d 256, lambda 0.003, alpha0 0.1, nu 1) must be reachable."""
    from recsys_cli.tuning.study import space_for

    space = space_for("ials-rendle", None)
    defaults = IALSRendle.Params()
    assert defaults.factors in space["factors"].choices and 256 in space["factors"].choices
    for name, published in [("regularization", 0.003), ("alpha0", 0.1)]:
        entry = space[name]
        assert entry.log and entry.low <= min(getattr(defaults, name), published)
        assert max(getattr(defaults, name), published) <= entry.high
    assert defaults.nu == 1.0


@pytest.mark.parametrize("corner", ["low", "high"])
def test_every_corner_of_the_default_space_fits_to_finite_factors(corner):
    from recsys_cli.tuning.study import space_for

    space = space_for("ials-rendle", None)
    params = {name: (entry.choices[0 if corner == "low" else -1] if entry.choices else getattr(entry, corner))
              for name, entry in space.items()}
    train = _tiny()
    model = IALSRendle({**params, "iterations": 2}).fit(train)
    assert np.isfinite(model.user_factors).all() and np.isfinite(model.item_factors).all()
    ids, _ = model.recommend(np.arange(train.shape[0]), train, 5)
    assert not train[np.arange(train.shape[0])[:, None], ids].toarray().any()


def _cg(train, users, items, alpha0, regularization, block=4096):
    """`users` after 3 block-CG steps against fixed `items`, as one half-epoch runs them."""
    from recsys_cli.models.ials_rendle import conjugate_gradient_rows, gramian

    confidence = IALSRendle().confidence(train)
    penalty, _ = frequency_regularization(confidence, alpha0, regularization, 1.0)
    rows = users.copy()
    conjugate_gradient_rows(confidence.indptr, confidence.indices, confidence.data.astype(np.float64), rows,
                            items, gramian(items), alpha0, penalty, 3, block=block)
    return rows


def test_block_conjugate_gradient_does_not_depend_on_the_block_size():
    """Rows are solved in lockstep blocks; where the blocks are cut must not change a row."""
    train = _tiny()
    users, items = IALSRendle({"factors": 5}).initial_factors(*train.shape)
    solved = [_cg(train, users, items, 0.4, 0.02, block=block) for block in (4096, 7, 1)]
    np.testing.assert_allclose(solved[1], solved[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(solved[2], solved[0], rtol=1e-6, atol=1e-7)
    assert not np.allclose(solved[0], users)


def test_a_row_already_at_its_solution_stays_put():
    """A user with no interactions and zero factors has a zero residual: no step, no NaN."""
    train = _tiny().tolil()
    train[0, :] = 0
    train = train.tocsr()
    train.eliminate_zeros()
    users, items = IALSRendle({"factors": 4}).initial_factors(*train.shape)
    users[0] = 0.0
    users = _cg(train, users, items, 0.6, 0.005)
    assert np.isfinite(users).all() and not users[0].any() and users[1:].any()
