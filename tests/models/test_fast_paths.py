"""Fast paths must give exactly what the generic path gives (issue 13)."""

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import Recommender
from recsys_cli.models.popular import Popular
from recsys_cli.models.topk import ranked_unseen


def test_ranked_unseen_by_hand():
    # ranking 3 > 1 > 0 > 2; user 0 saw 3, user 1 saw 1 and 0, user 2 saw everything
    history = sp.csr_matrix(np.array([[0, 0, 0, 1], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=np.float32))
    ranking = np.array([3, 1, 0, 2])
    ids, scores = ranked_unseen(ranking, np.array([4.0, 3.0, 2.0, 1.0], np.float32), history, 2)
    assert ids[:2].tolist() == [[1, 0], [3, 2]]
    assert scores[:2].tolist() == [[3.0, 2.0], [4.0, 1.0]]
    assert np.isneginf(scores[2]).all()
    unfiltered, _ = ranked_unseen(ranking, np.ones(4, np.float32), history, 3, filter_seen=False)
    assert unfiltered.tolist() == [[3, 1, 0]] * 3


def test_popular_fast_recommend_equals_dense_path():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n_users, n_items = int(rng.integers(1, 40)), int(rng.integers(1, 30))
        train = sp.random(n_users, n_items, density=rng.uniform(0, 0.9), random_state=trial, format="csr")
        train.data[:] = 1.0
        model = Popular().fit(train)
        users = np.arange(n_users)
        for k in (1, 5, n_items + 3):
            for filter_seen in (True, False):
                fast = model.recommend(users, train, k, filter_seen=filter_seen)
                dense = Recommender.recommend(model, users, train, k, filter_seen=filter_seen)
                finite = np.isfinite(dense[1])
                np.testing.assert_array_equal(fast[1], dense[1])
                np.testing.assert_array_equal(fast[0][finite], dense[0][finite])


def test_ease_eigen_path_equals_the_direct_inverse():
    from recsys_cli.models import ease

    rng = np.random.default_rng(1)
    train = sp.csr_matrix((rng.random((60, 25)) < 0.3).astype(np.float32))
    direct = {l2: ease.EASE({"l2": l2}).fit(train) for l2 in (0.5, 3.0, 40.0)}
    assert {m.solver for m in direct.values()} == {"direct inverse"}
    ease.EASE.expect_fits(train, ease.EIGEN_BREAK_EVEN)
    for l2, reference in direct.items():
        model = ease.EASE({"l2": l2}).fit(train)
        assert model.solver == "eigen (cached)"
        np.testing.assert_allclose(model.weights, reference.weights, atol=2e-4 * np.abs(reference.weights).max())
    other = train.tolil()
    other[0, 0] = 0.0 if train[0, 0] else 1.0  # another matrix: not the cached decomposition
    assert ease.EASE({"l2": 3.0}).fit(other.tocsr()).solver == "direct inverse"
    ease.EASE.expect_fits(train, 1)  # too few fits to pay for a decomposition: the cache is untouched
    assert ease.EASE({"l2": 3.0}).fit(train).solver == "eigen (cached)"


def test_ease_memory_estimate_is_float32():
    from recsys_cli.models import ease

    assert ease.estimate(10_000)["peak_bytes"] == 3 * 4 * 10_000**2
