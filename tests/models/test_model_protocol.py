"""One protocol every registered model runs through (in the manner of implicit's
tests/recommender_base_test.py): a new model gets these edge cases by its registry line alone.

Each model is built with small, fast parameters (PARAMS) and one thread, so that refits and
reloads must reproduce lists exactly.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.core.errors import InputError
from recsys_cli.models.base import Recommender
from recsys_cli.models.registry import MODELS, build_model, load_model

N_USERS, N_ITEMS = 60, 15
PARAMS = {
    "als": {"factors": 4, "iterations": 3}, "ials": {"factors": 4, "iterations": 3},
    "bpr": {"factors": 4, "iterations": 10}, "lmf": {"factors": 4, "iterations": 5},
    "warp": {"factors": 4, "epochs": 3}, "funk-svd": {"factors": 3, "epochs": 5},
    "als-explicit": {"factors": 3, "iterations": 3}, "pure-svd": {"factors": 3},
    "blend": {"components": [{"type": "edlae"}, {"type": "ials-rendle", "params": {"factors": 4, "iterations": 3}}]},
    "rerank": {"generators": [{"type": "item-knn", "candidates": 8}, {"type": "popular", "candidates": 5}],
               "n_estimators": 10, "min_child_samples": 2},
}
# Models that rank a candidate set instead of scoring the whole catalogue.
CANDIDATE_MODELS = {"rerank"}


def planted(seed: int = 0) -> sp.csr_matrix:
    """Three taste blocks of five items, with 20% noise likes, so every model learns something."""
    rng = np.random.default_rng(seed)
    block_of_user = np.arange(N_USERS) % 3
    block_of_item = np.arange(N_ITEMS) // 5
    likes = (block_of_user[:, None] == block_of_item[None, :]) & (rng.random((N_USERS, N_ITEMS)) < 0.7)
    likes |= rng.random((N_USERS, N_ITEMS)) < 0.1
    return sp.csr_matrix(likes.astype(np.float32))


ITEMS = pl.DataFrame({"item_idx": np.arange(N_ITEMS, dtype=np.int32),
                      "category": [f"c{i // 5}" for i in range(N_ITEMS)]})


def build(model_type: str):
    return build_model(model_type, PARAMS.get(model_type), seed=3, threads=1, items=ITEMS)


@pytest.fixture(params=list(MODELS))
def model_type(request):
    return request.param


def check_lists(ids, scores, n_rows: int, width: int):
    """Shape, dtypes, best first, no repeated item, -1 padding only with -inf scores."""
    assert ids.shape == scores.shape == (n_rows, width)
    assert ids.dtype == np.int32 and scores.dtype == np.float32
    assert np.all((ids >= -1) & (ids < N_ITEMS))
    assert np.all(np.isneginf(scores[ids < 0]))
    with np.errstate(invalid="ignore"):  # -inf - -inf in the padding
        steps = np.diff(scores, axis=1)
    assert np.all(steps[np.isfinite(steps)] <= 1e-6)
    for row in ids:
        valid = row[row >= 0]
        assert len(set(valid.tolist())) == len(valid)


def test_fit_returns_self(model_type):
    model = build(model_type)
    assert model.fit(planted()) is model
    assert model.n_items == N_ITEMS


def test_a_second_fit_replaces_the_first(model_type):
    first, second = planted(0), planted(1)[:, ::-1].tocsr()  # other likes, items mirrored
    users = np.arange(N_USERS)
    refitted = build(model_type).fit(first).fit(second)
    fresh = build(model_type).fit(second)
    assert np.array_equal(refitted.recommend(users, second, 5)[0], fresh.recommend(users, second, 5)[0])


def with_row(train, user: int, value: float):
    """`train` with every cell of `user`'s row set to `value` (0: no history at all)."""
    history = train.tolil()
    history[user, :] = value
    history = history.tocsr()
    history.eliminate_zeros()
    return history


def test_a_user_without_history_gets_a_list(model_type):
    train = planted()
    model = build(model_type).fit(train)
    history = with_row(train, 4, 0)
    ids, scores = model.recommend(np.array([4, 5]), history, 5)
    check_lists(ids, scores, 2, 5)


def test_a_user_who_has_seen_everything_gets_nothing_seen(model_type):
    train = planted()
    model = build(model_type).fit(train)
    history = with_row(train, 7, 1)
    ids, scores = model.recommend(np.array([7, 8]), history, 5)
    check_lists(ids, scores, 2, 5)
    assert not np.any(np.isfinite(scores[0]) & (ids[0] >= 0))  # every item is seen: nothing left
    ids, scores = model.recommend(np.array([7]), history, 5, filter_seen=False)
    check_lists(ids, scores, 1, 5)
    assert np.all(ids >= 0) and np.all(np.isfinite(scores))


def test_k_beyond_the_catalogue_gives_every_unseen_item_once(model_type):
    train = planted()
    model = build(model_type).fit(train)
    users = np.arange(0, N_USERS, 5)
    ids, scores = model.recommend(users, train, N_ITEMS + 10)
    check_lists(ids, scores, len(users), N_ITEMS)
    for user, row, values in zip(users, ids, scores):
        listed = set(row[(row >= 0) & np.isfinite(values)].tolist())
        unseen = set(range(N_ITEMS)) - set(train[user].indices.tolist())
        assert listed <= unseen
        if model_type not in CANDIDATE_MODELS:
            assert listed == unseen


def test_lists_do_not_depend_on_how_users_are_batched(model_type):
    train = planted()
    model = build(model_type).fit(train)
    users = np.arange(16)
    whole = model.recommend(users, train, 5)[0]
    halves = np.vstack([model.recommend(users[:8], train, 5)[0], model.recommend(users[8:], train, 5)[0]])
    assert np.array_equal(whole, halves)


@pytest.mark.parametrize("convert", [
    lambda m: m.tocoo(), lambda m: m.tocsc().astype(np.float64), lambda m: m.astype(bool),
    lambda m: m.astype(np.int64), lambda m: sp.csr_array(m),
], ids=["coo", "csc-float64", "bool", "int64", "csr_array"])
def test_other_sparse_formats_and_dtypes_are_converted(model_type, convert):
    train = planted()
    expected = build(model_type).fit(train).recommend(np.arange(10), train, 5)[0]
    given = convert(train)
    before = given.copy()
    got = build(model_type).fit(given).recommend(np.arange(10), train, 5)[0]
    assert np.array_equal(got, expected)
    assert (abs(sp.csr_matrix(given, dtype=np.float32) - sp.csr_matrix(before, dtype=np.float32))).nnz == 0  # untouched


def test_a_dense_array_is_refused(model_type):
    with pytest.raises(InputError, match="scipy sparse"):
        build(model_type).fit(planted().toarray())


def test_save_load_gives_identical_lists_and_keeps_seed_and_threads(model_type, tmp_path):
    train = planted()
    model = build_model(model_type, PARAMS.get(model_type), seed=11, threads=1, items=ITEMS, rated=True).fit(train)
    users = np.arange(N_USERS)
    ids, scores = model.recommend(users, train, 6)
    model.save(tmp_path / "m")
    again = load_model(model_type, tmp_path / "m")
    assert (again.seed, again.threads, again.binary_input, again.n_items) == (11, 1, model.binary_input, N_ITEMS)
    assert again.params == model.params
    again_ids, again_scores = again.recommend(users, train, 6)
    assert np.array_equal(again_ids, ids)
    assert np.allclose(again_scores, scores, equal_nan=True)
    if model.has_similar_items:
        assert np.array_equal(again.similar_items(np.arange(4), 3)[0], model.similar_items(np.arange(4), 3)[0])


def test_similar_items_exclude_the_anchor(model_type):
    model = build(model_type).fit(planted())
    anchors = np.array([0, 6, 14, 6])
    if not model.has_similar_items:
        with pytest.raises(NotImplementedError):
            model.similar_items(anchors, 3)
        return
    ids, scores = model.similar_items(anchors, 4)
    assert ids.shape == scores.shape == (4, 4)
    assert not np.any(ids == anchors[:, None])
    assert np.all((ids >= -1) & (ids < N_ITEMS))
    assert np.array_equal(ids[1], ids[3])


def test_capabilities_are_declared_not_probed(model_type):
    """Everything the orchestrator asks a model is an attribute or method of the base class."""
    model = build(model_type)
    assert isinstance(model, Recommender)
    assert model.input_kind in ("binary", "weights", "ratings")
    assert isinstance(model.has_similar_items, bool) and isinstance(model.uses_item_metadata, bool)
    assert isinstance(model.predicts_ratings, bool) and isinstance(model.fit(planted()).report_details(), dict)
    if model.predicts_ratings:
        assert model.predict(np.array([0, 1]), np.array([2, 3])).shape == (2,)


def test_the_input_kind_decides_what_a_model_learns_from(model_type):
    """On a rated dataset, "weights" models see interactions unless use_weights; "binary"
    models always; "ratings" models never."""
    ratings = planted().copy()
    ratings.data = np.random.default_rng(0).choice([0.5, 3.0, 4.5], ratings.nnz).astype(np.float32)
    kind = build(model_type).input_kind
    for rated, use_weights in ((False, False), (True, False), (True, True)):
        model = build_model(model_type, PARAMS.get(model_type), rated=rated, use_weights=use_weights, items=ITEMS)
        seen = model.input_matrix(ratings)
        binarised = kind == "binary" or (kind == "weights" and rated and not use_weights)
        assert np.array_equal(seen.data, np.ones(ratings.nnz) if binarised else ratings.data)
        assert seen.dtype == np.float32 and seen.format == "csr"
