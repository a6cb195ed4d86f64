"""The Ray backend's block sizes (backends/ray_backend.py shard_sizes): guided self-scheduling,
checked by hand; no Ray needed."""

from __future__ import annotations

import pytest

from recsys_cli.backends.ray_backend import MIN_SHARD_USERS, shard_sizes


def test_blocks_take_a_quarter_of_what_remains_on_two_slots_down_to_the_floor():
    sizes = shard_sizes(15_182, slots=2, largest=8192)
    # ceil(15182 / 4) = 3796, ceil(11386 / 4) = 2847, ... until the 512-user floor
    assert sizes[:4] == [3796, 2847, 2135, 1601] and sum(sizes) == 15_182
    assert all(size >= MIN_SHARD_USERS for size in sizes[:-1]) and sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("n_users, slots, largest, expected", [
    (60, 2, 10, [10] * 6),  # shard_users caps every block (and lowers the floor to itself)
    (8, 2, 4, [4, 4]),
    (300, 4, 8192, [300]),  # below the floor: one block
    (1500, 1, 8192, [750, 512, 238]),
    (0, 2, 10, []),
    (100, 0, 50, [50, 50]),  # a cluster with no free CPU still gets blocks
])
def test_block_sizes_by_hand(n_users, slots, largest, expected):
    assert shard_sizes(n_users, slots, largest) == expected
