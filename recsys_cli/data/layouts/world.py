"""The generated world every raw layout is written from: the synthetic likes of a preset,
plus the extra draws a layout needs (other interactions, repeats), each from its own seeded
stream so that one layout's draws never change another's."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys_cli.data.formats.synthetic import DAY, YEAR_START, SyntheticLikes, draw

__all__ = ["DAY", "YEAR_START", "World", "make_world"]


@dataclass(frozen=True)
class World:
    likes: SyntheticLikes
    seed: int

    @property
    def users(self) -> int:
        return self.likes.spec.users

    @property
    def items(self) -> int:
        return self.likes.spec.items

    @property
    def categories(self) -> list[str]:
        """Category names in category-index order."""
        table = self.likes.item_table.select("category", pl.Series("c", self.likes.category_of_item))
        return table.unique("c").sort("c")["category"].to_list()

    def groups(self, size: int) -> np.ndarray:
        """A dense group id per item: each category's items in consecutive runs of `size`
        (artists, albums: a group never mixes categories)."""
        category = self.likes.category_of_item  # sorted: each category's items are consecutive
        rank = np.arange(self.items) - np.searchsorted(category, category)
        _, group = np.unique(np.c_[category, rank // size], axis=0, return_inverse=True)
        return group.ravel()

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator for one purpose of one layout, seeded from the world's seed."""
        return np.random.default_rng([self.seed, zlib.crc32(purpose.encode())])

    def like_frame(self) -> pl.DataFrame:
        """user, item (dense ids), timestamp (2022 Unix seconds): one row per like, by time."""
        return pl.DataFrame({"user": self.likes.users.astype(np.int64), "item": self.likes.items.astype(np.int64),
                             "timestamp": self.likes.timestamps}).sort("timestamp", "user", maintain_order=True)

    def other_pairs(self, rng: np.random.Generator, share: float) -> pl.DataFrame:
        """About `share` x likes (user, item, timestamp) pairs the user did not like: users drawn
        by activity (a like's row), items by popularity (another like's item), at a time inside
        the user's active window (the drawn row's time plus up to two weeks)."""
        likes = self.likes
        size = int(len(likes.users) * share)
        rows, other = rng.integers(0, len(likes.users), size), rng.integers(0, len(likes.users), size)
        users, items = likes.users[rows].astype(np.int64), likes.items[other].astype(np.int64)
        times = likes.timestamps[rows] + rng.integers(0, 14 * DAY, size)
        keys = users * self.items + items
        fresh = ~np.isin(keys, likes.users.astype(np.int64) * self.items + likes.items)
        _, first = np.unique(keys[fresh], return_index=True)
        keep = np.flatnonzero(fresh)[np.sort(first)]
        return pl.DataFrame({"user": users[keep], "item": items[keep], "timestamp": times[keep]})


def make_world(preset: str, seed: int) -> World:
    return World(draw(preset, seed), seed)


def repeat_rows(frame: pl.DataFrame, rng: np.random.Generator, mean_extra: float, spread_days: int) -> pl.DataFrame:
    """Each row once plus a geometric number of repeats (mean `mean_extra`), each repeat up
    to `spread_days` after the row's time, clipped to the end of 2022 (listening logs)."""
    extra = rng.geometric(1.0 / (1.0 + mean_extra), frame.height) - 1
    index = np.repeat(np.arange(frame.height), 1 + extra)
    first = np.r_[0, np.cumsum(1 + extra)[:-1]]
    shift = rng.integers(0, spread_days * DAY, len(index))
    shift[first] = 0
    times = np.minimum(frame["timestamp"].to_numpy()[index] + shift, YEAR_START + 365 * DAY - 1)
    return frame[index].with_columns(pl.Series("timestamp", times))
