"""The one evaluation benchmarks/peers.py applies to every library's lists, on a hand-made split."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from peers import mrr_at_k  # noqa: E402


def split_arrays():
    # 3 users x 5 items. Train: user 0 saw item 0, user 1 saw items 0 and 1, user 2 saw item 3.
    # Test: user 0 holds out item 2, user 1 item 4, user 2 item 1.
    return {
        "n_items": np.array(5),
        "train_users": np.array([0, 1, 1, 2]), "train_items": np.array([0, 0, 1, 3]),
        "test_users": np.array([0, 1, 2]),
        "test_indptr": np.array([0, 1, 2, 3]), "test_items": np.array([2, 4, 1]),
    }


def test_seen_items_are_dropped_and_later_items_move_up():
    recs = np.array([
        [0, 2, 3],     # 0 was seen: dropped, so 2 is at rank 1 -> 1
        [3, 2, 4],     # 4 at rank 3 -> 1/3
        [-1, -1, -1],  # an empty list -> 0
    ])
    mrr, seen, short = mrr_at_k(recs, split_arrays(), k=3)
    assert mrr == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert seen == 1
    assert short == 2  # user 0 has 2 unseen items left, user 2 none


def test_the_list_is_cut_at_k_after_the_seen_filter():
    recs = np.array([
        [3, 4, 2],  # 2 at rank 3 > k -> 0
        [0, 2, 4],  # 0 seen: 4 moves up to rank 2 -> 1/2
        [1, 0, 2],  # 1 at rank 1 -> 1
    ])
    mrr, seen, short = mrr_at_k(recs, split_arrays(), k=2)
    assert mrr == pytest.approx((0 + 1 / 2 + 1) / 3)
    assert (seen, short) == (1, 0)
