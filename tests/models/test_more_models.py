"""SLIM, PureSVD, explicit-rating models, WARP, content and rerank on hand-made cases."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.evaluation.evaluate import evaluate, rating_errors
from recsys_cli.models.registry import model_class

from test_models import blocks


def test_slim_recovers_a_planted_item_item_rule():
    """Everyone who has item 0 also has item 1 (and random others); item 1 must be the best
    regressor for item 0 and the other way round, with non-negative weights, zero diagonal."""
    rng = np.random.default_rng(0)
    dense = (rng.random((200, 12)) < 0.15).astype(np.float32)
    dense[:, 1] = np.maximum(dense[:, 1], dense[:, 0])
    dense[:, 0] = np.maximum(dense[:, 0], dense[:, 1])
    model = model_class("slim")({"l1": 1e-4, "l2": 1e-3}).fit(sp.csr_matrix(dense))
    weights = model.weights.toarray()
    assert np.all(weights >= 0) and np.all(np.diag(weights) == 0)
    assert weights[1, 0] == weights[:, 0].max() and weights[0, 1] == weights[:, 1].max()
    history = sp.csr_matrix(np.eye(1, 12, 0, dtype=np.float32))
    assert model.recommend(np.array([0]), history, 1)[0].tolist() == [[1]]


def _rank_one(seed=0):
    rng = np.random.default_rng(seed)
    ratings = np.outer(rng.uniform(1, 2, 60), rng.uniform(1, 2.5, 40))
    mask = rng.random(ratings.shape) < 0.6
    return sp.csr_matrix(np.where(mask, ratings, 0)), sp.csr_matrix(np.where(~mask, ratings, 0))


@pytest.mark.parametrize("model_type, params", [
    ("funk-svd", {"factors": 2, "epochs": 300, "learning_rate": 0.01, "regularization": 0.0}),
    ("als-explicit", {"factors": 2, "regularization": 0.01}),
])
def test_rating_models_fit_a_rank_one_matrix(model_type, params):
    train, test = _rank_one()
    model = model_class(model_type)(params, seed=1).fit(train)
    errors = rating_errors(model, test)
    spread = np.std(test.data)
    assert errors["rmse"] < 0.1 * spread and errors["mae"] <= errors["rmse"]
    result = evaluate(model, train, test, train, [5], ["mrr"])
    assert {"rmse", "mae", "mrr@5"} <= set(result.summary)


def test_warp_ranks_positives_above_negatives():
    train = blocks(users_per_block=30, items_per_block=8, blocks_=3)
    model = model_class("warp")({"factors": 8, "epochs": 40, "learning_rate": 0.01}, seed=2, threads=1).fit(train)
    scores = model.score(np.arange(train.shape[0]), train)
    positive = train.toarray() > 0
    auc = np.mean([np.mean(s[p][:, None] > s[~p][None, :]) for s, p in zip(scores, positive)])
    assert auc > 0.95


def test_pure_svd_recovers_planted_blocks():
    train = blocks(users_per_block=20, items_per_block=6, drop=[(0, 2), (25, 9)])
    ids, _ = model_class("pure-svd")({"factors": 2}).fit(train).recommend(np.array([0, 25]), train, 1)
    assert ids.ravel().tolist() == [2, 9]


def _items_with_genres():
    return pl.DataFrame({"item_idx": np.arange(6, dtype=np.int32), "item_id": np.arange(100, 106),
                         "name": [f"title {i}" for i in range(6)],
                         "genres": [["rock"], ["rock", "live"], ["rock"], ["jazz"], ["jazz", "live"], ["jazz"]]})


def test_content_model_follows_the_users_genres():
    model = model_class("content")()
    model.set_item_metadata(_items_with_genres())
    train = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0]], dtype=np.float32))
    model.fit(train)
    ids, _ = model.recommend(np.array([0, 1]), train, 2)
    assert set(ids[0]) == {1, 2} and set(ids[1]) == {4, 5}
    similar, _ = model.similar_items(np.array([0]), 2)
    assert set(similar[0]) == {1, 2}


def test_content_model_without_metadata_is_bad_input():
    from recsys_cli.core.errors import InputError

    model = model_class("content")()
    with pytest.raises(InputError, match="no usable item metadata"):
        model.set_item_metadata(pl.DataFrame({"item_idx": [0, 1], "item_id": [1, 2], "name": ["a", "b"]}))


def test_rerank_trains_serves_and_round_trips(tmp_path):
    train = blocks(users_per_block=40, items_per_block=10, blocks_=3)
    params = {"generators": [{"type": "item-knn", "candidates": 15}, {"type": "popular", "candidates": 10}],
              "n_estimators": 20, "min_child_samples": 2}
    model = model_class("rerank")(params, seed=1, threads=1).fit(train)
    users = np.arange(0, 120, 7)
    ids, scores = model.recommend(users, train, 5)
    assert ids.shape == (len(users), 5)
    assert not np.any(train.toarray()[users[:, None], np.maximum(ids, 0)] * (ids >= 0))  # seen filtered
    assert set(model.feature_importances) == set(model.feature_names())
    assert sum(model.feature_importances.values()) == pytest.approx(1.0)
    model.save(tmp_path / "m")
    again = model_class("rerank").load(tmp_path / "m")
    assert np.array_equal(again.recommend(users, train, 5)[0], ids)


@pytest.mark.parametrize("objective", ["binary", "lambdarank"])
def test_rerank_ranks_the_users_own_block_first(objective):
    full = blocks(users_per_block=40, items_per_block=10, blocks_=3)  # 40 users x 10 items a block
    train = sp.csr_matrix(full.toarray() * (np.random.default_rng(3).random(full.shape) < 0.6))
    params = {"generators": [{"type": "item-knn", "candidates": 15}, {"type": "popular", "candidates": 10}],
              "n_estimators": 20, "min_child_samples": 2, "objective": objective}
    model = model_class("rerank")(params, seed=1, threads=1).fit(train)
    users = np.arange(0, 120, 7)
    ids, _ = model.recommend(users, train, 1)
    assert np.mean(ids[:, 0] // 10 == users // 40) >= 0.9  # first picks from the user's own block


def test_a_rerank_generator_that_does_not_fit_is_named(monkeypatch):
    from recsys_cli.core.errors import InputError
    from recsys_cli.models import ease

    monkeypatch.setattr(ease, "available_memory_bytes", lambda: 1000)
    train = sp.csr_matrix((np.random.default_rng(1).random((60, 40)) < 0.3).astype(np.float32))
    with pytest.raises(InputError, match=r"rerank's generator 0 \(ease\): EASE needs .* `generators:`"):
        model_class("rerank")({}).fit(train)
