"""Split strategies: hand-checked cases and hypothesis properties of the invariants."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.stages import ingest as ingest_stage
from recsys_cli.stages import split as split_stage
from recsys_cli.data import split_strategies, splits
from recsys_cli.data.split_strategies import assign
from recsys_cli.data.splits import TEST, TEST_COLD, TEST_INPUT, TRAIN, Cells
from recsys_cli.core.errors import InputError

from conftest import dense, read_matrix


def make_cells(matrix: np.ndarray, times: np.ndarray | None = None) -> Cells:
    csr = sp.csr_matrix(matrix.astype(np.float32))
    events = None
    if times is not None:
        rows, cols = csr.nonzero()
        events = pl.DataFrame({"user_idx": rows, "item_idx": cols, "timestamp": times[rows, cols]}).sort("timestamp", "user_idx")
    return Cells.from_matrix(csr, events)


@st.composite
def interaction_matrices(draw):
    users = draw(st.integers(2, 12))
    items = draw(st.integers(2, 10))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    matrix = (rng.random((users, items)) < draw(st.floats(0.2, 0.9))) * rng.integers(1, 5, (users, items))
    matrix[0, :2] = 1  # at least one user with two interactions
    times = rng.integers(0, 1000, (users, items))
    return matrix, times


def parts_sum(cells: Cells, labels: np.ndarray) -> np.ndarray:
    return sum(dense(cells.to_csr(labels == code)) for code in (TRAIN, TEST, TEST_COLD, TEST_INPUT))


def per_user(cells: Cells, mask: np.ndarray) -> np.ndarray:
    return np.bincount(cells.users[mask], minlength=cells.shape[0])


SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(interaction_matrices(), st.floats(0.1, 1.0), st.integers(0, 100))
def test_leave_one_random(data, share, seed):
    matrix, _ = data
    cells = make_cells(matrix)
    eligible = np.count_nonzero((matrix > 0).sum(1) >= 2)
    active = np.count_nonzero((matrix > 0).sum(1))
    if round(share * active) == 0:
        with pytest.raises(InputError, match="no test"):
            assign(cells, "leave-one-random", {"test_users": share}, seed)
        return
    labels = assign(cells, "leave-one-random", {"test_users": share}, seed)
    assert np.array_equal(parts_sum(cells, labels), matrix)
    tests, trains = per_user(cells, labels == TEST), per_user(cells, labels == TRAIN)
    assert set(np.unique(tests)) <= {0, 1}
    assert np.all(trains[tests == 1] >= 1)
    assert tests.sum() == min(eligible, round(share * active))
    assert np.array_equal(labels, assign(cells, "leave-one-random", {"test_users": share}, seed))


@SETTINGS
@given(interaction_matrices(), st.floats(0.05, 0.95), st.integers(0, 100))
def test_random_holdout(data, ratio, seed):
    matrix, _ = data
    cells = make_cells(matrix)
    expected = round(ratio * np.count_nonzero(matrix))
    if expected == 0:
        with pytest.raises(InputError, match="no test"):
            assign(cells, "random-holdout", {"test_ratio": ratio}, seed)
        return
    labels = assign(cells, "random-holdout", {"test_ratio": ratio}, seed)
    assert np.array_equal(parts_sum(cells, labels), matrix)
    assert np.count_nonzero(labels == TEST) == expected


@SETTINGS
@given(interaction_matrices(), st.floats(0.05, 0.9))
def test_temporal_by_ratio(data, ratio):
    matrix, times = data
    cells = make_cells(matrix, times)
    labels = assign(cells, "temporal", {"test_ratio": ratio}, 0)
    assert np.array_equal(parts_sum(cells, labels), matrix)
    held = labels != TRAIN
    assert held.any()
    assert np.count_nonzero(held) == max(1, round(ratio * len(labels)))
    if (~held).any():
        key = cells.times * 10**9 + cells.order  # (time, event order), lexicographic
        assert key[~held].max() < key[held].min()
    cold = per_user(cells, labels == TEST_COLD) > 0
    assert not np.any(per_user(cells, labels == TRAIN)[cold])
    warm = per_user(cells, labels == TEST) > 0
    assert np.all(per_user(cells, labels == TRAIN)[warm] >= 1)


@SETTINGS
@given(interaction_matrices(), st.integers(1, 3))
def test_leave_last_out(data, n):
    matrix, times = data
    cells = make_cells(matrix, times)
    counts = (matrix > 0).sum(1)
    if not np.any(counts > n):
        with pytest.raises(InputError):
            assign(cells, "leave-last-out", {"n": n}, 0)
        return
    labels = assign(cells, "leave-last-out", {"n": n}, 0)
    assert np.array_equal(parts_sum(cells, labels), matrix)
    tests = per_user(cells, labels == TEST)
    assert np.array_equal(tests, np.where(counts > n, n, 0))
    for user in np.flatnonzero(tests):
        mine = cells.users == user
        assert cells.order[mine & (labels == TRAIN)].max() < cells.order[mine & (labels == TEST)].min()


@SETTINGS
@given(interaction_matrices(), st.floats(0.1, 0.9), st.floats(0.05, 0.95), st.integers(0, 100))
def test_user_holdout(data, share, fold_in, seed):
    matrix, _ = data
    cells = make_cells(matrix)
    active = np.count_nonzero((matrix > 0).sum(1))
    if round(share * active) == 0:
        with pytest.raises(InputError, match="no test"):
            assign(cells, "user-holdout", {"test_users": share, "fold_in": fold_in}, seed)
        return
    labels = assign(cells, "user-holdout", {"test_users": share, "fold_in": fold_in}, seed)
    assert np.array_equal(parts_sum(cells, labels), matrix)
    targets, inputs = per_user(cells, labels == TEST), per_user(cells, labels == TEST_INPUT)
    held = targets > 0
    assert np.array_equal(held, inputs > 0)
    assert not np.any(per_user(cells, labels == TRAIN)[held])
    counts = targets + inputs  # a fold_in share of each held-out user's items is input, at least one, never all
    assert np.array_equal(inputs[held], np.clip(np.round(fold_in * counts[held]), 1, counts[held] - 1))


@pytest.mark.parametrize("fold_in, inputs", [(0.25, 2), (0.5, 4), (0.75, 6)])
def test_user_holdout_fold_in_share_by_hand(fold_in, inputs):
    cells = make_cells(np.ones((10, 8)))
    labels = assign(cells, "user-holdout", {"test_users": 0.3, "fold_in": fold_in}, 0)
    held = per_user(cells, labels == TEST) > 0
    assert held.sum() == 3
    assert per_user(cells, labels == TEST_INPUT)[held].tolist() == [inputs] * 3
    assert per_user(cells, labels == TEST)[held].tolist() == [8 - inputs] * 3


def test_temporal_before_date_and_cold_users_by_hand():
    day = 86_400
    matrix = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 1]])
    times = np.array([[1, 20, 0], [0, 0, 30], [2, 0, 3]]) * day  # users: warm, cold, train-only
    cells = make_cells(matrix, times)
    labels = assign(cells, "temporal", {"before": "1970-01-11"}, 0)
    assert dense(cells.to_csr(labels == TEST)).tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert dense(cells.to_csr(labels == TEST_COLD)).tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 0]]


def test_time_strategies_refuse_datasets_without_time():
    with pytest.raises(InputError, match="needs timestamps"):
        assign(make_cells(np.eye(3)), "leave-last-out", {}, 0)


def test_unknown_option_and_strategy_are_named():
    cells = make_cells(np.ones((3, 3)))
    with pytest.raises(InputError, match="before: unknown key; strategy .leave-one-random. takes test_users"):
        assign(cells, "leave-one-random", {"before": "2020-01-01"}, 0)
    with pytest.raises(InputError, match="leave-one-random"):
        assign(cells, "leave-one-randon", {}, 0)


def test_no_user_with_two_interactions_leaves_no_test_users():
    with pytest.raises(InputError, match="no test interactions"):
        assign(make_cells(np.eye(4)), "leave-one-random", {}, 0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "ds"
    ingest_stage.ingest("synthetic", None, out, {"preset": "small", "seed": 1})
    return out


def test_split_folder_is_reproducible_and_validation_never_touches_test(demo, tmp_path):
    a = split_stage.split(demo, "leave-one-random", tmp_path / "a", {"test_users": 0.2}, seed=7, validation=True)
    b = split_stage.split(demo, "leave-one-random", tmp_path / "b", {"test_users": 0.2}, seed=7, validation=True)
    c = split_stage.split(demo, "leave-one-random", tmp_path / "c", {"test_users": 0.2}, seed=8, validation=True)
    assert {k: v["sha256"] for k, v in a.info["parts"].items()} == {k: v["sha256"] for k, v in b.info["parts"].items()}
    assert a.info["parts"]["test"]["sha256"] != c.info["parts"]["test"]["sha256"]
    train, test = read_matrix(tmp_path / "a" / "train.npz"), read_matrix(tmp_path / "a" / "test.npz")
    valid_train, valid = read_matrix(tmp_path / "a" / "valid_train.npz"), read_matrix(tmp_path / "a" / "valid.npz")
    assert (train + test != read_matrix(demo / "matrix.npz")).nnz == 0
    assert (valid_train + valid != train).nnz == 0
    assert test.multiply(valid_train + valid).nnz == 0
    assert split_stage.split(demo, "leave-one-random", tmp_path / "a", {"test_users": 0.2}, seed=7, validation=True).skipped


def test_temporal_validation_with_a_date_cuts_the_same_share_of_train(demo, tmp_path):
    result = split_stage.split(demo, "temporal", tmp_path / "t", {"before": "2022-11-01"}, validation=True)
    parts = result.info["parts"]
    assert {"train", "test", "test_cold", "valid_train", "valid"} <= set(parts)
    test_share = (parts["test"]["interactions"] + parts["test_cold"]["interactions"]) / (
        parts["train"]["interactions"] + parts["test"]["interactions"] + parts["test_cold"]["interactions"])
    valid_share = (parts["valid"]["interactions"] + parts.get("valid_cold", {"interactions": 0})["interactions"]) / parts["train"]["interactions"]
    assert valid_share == pytest.approx(test_share, abs=0.02)


def test_split_cli_reports_bad_input_with_exit_2(cli, demo, tmp_path):
    result = cli("split", demo, "--strategy", "temporal", "--out", tmp_path / "s")
    assert result.code == 2 and "--before" in result.err
    assert not (tmp_path / "s").exists()
    result = cli("split", tmp_path / "nowhere", "--strategy", "temporal")
    assert result.code == 2 and "nowhere" in result.err


def test_strategy_registry_lists_parameters():
    # folds/fold are set by `split: {folds: F}`, one split per fold
    assert split_strategies.strategy_params("user-holdout") == {"test_users": 0.2, "fold_in": 0.8, "folds": None, "fold": 0}
    assert split_strategies.strategy_params("leave-last-out") == {"n": 1, "ties": "arbitrary"}


def test_leave_last_out_ties_by_hand():
    # user 0: items 0, 1, 2 at times 1, 5, 5 (a tie at the last second); user 1: 1, 2 (no tie);
    # user 2: both items at time 3 (all tie).
    matrix = np.array([[1, 1, 1], [1, 1, 0], [1, 1, 0]])
    times = np.array([[1, 5, 5], [1, 2, 0], [3, 3, 0]])
    cells = make_cells(matrix, times)
    arbitrary = assign(cells, "leave-last-out", {}, 0)
    held = dense(cells.to_csr(arbitrary == TEST))
    assert held[0, 1] + held[0, 2] == 1 and held[0, 0] == 0  # one of the tied two
    assert held[1].tolist() == [0, 1, 0] and held[2].sum() == 1
    assert splits.tie_counts(cells) == {"users_with_ties_at_cut": 2, "cells_at_tied_cuts": 4}
    every = dense(cells.to_csr(assign(cells, "leave-last-out", {"ties": "all"}, 0) == TEST))
    assert every.tolist() == [[0, 1, 1], [0, 1, 0], [0, 0, 0]]  # user 2 keeps both: nothing would be left in train
    note = split_strategies.notes(cells, "leave-last-out", {"ties": "all"})["ties"]
    assert note["mode"] == "all" and note["users_with_ties_at_cut"] == 2
    with pytest.raises(InputError, match="ties"):
        assign(cells, "leave-last-out", {"ties": "some"}, 0)


@SETTINGS
@given(interaction_matrices(), st.integers(1, 3), st.integers(1, 4))
def test_leave_last_out_ties_all_holds_out_whole_timestamps(data, n, distinct_times):
    matrix, times = data
    times = times % distinct_times  # many ties
    cells = make_cells(matrix, times)
    counts = (matrix > 0).sum(1)
    labels = splits.leave_last_out(cells, None, n=n, ties="all")
    assert np.array_equal(parts_sum(cells, labels), matrix)
    arbitrary = splits.leave_last_out(cells, None, n=n)
    for user in np.flatnonzero(per_user(cells, labels == TEST)):
        mine = cells.users == user
        train_times, test_times = cells.times[mine & (labels == TRAIN)], cells.times[mine & (labels == TEST)]
        assert len(train_times) and train_times.max() < test_times.min()  # no timestamp split in two
        assert len(test_times) >= n and counts[user] > n
        assert np.all(labels[mine & (arbitrary == TEST)] == TEST)  # a superset of the exact-n hold-out
    ties = splits.tie_counts(cells, n)
    users_differing = np.unique(cells.users[(labels == TEST) != (arbitrary == TEST)])
    assert len(users_differing) <= ties["users_with_ties_at_cut"]
