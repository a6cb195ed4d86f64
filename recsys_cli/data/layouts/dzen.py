"""Dzen's published layout (seed 001, `data/formats/dzen.py`): pandas-written CSVs with an
unnamed index column. `zen_ratings.csv` holds one row per user, `user_id` a signed 64-bit id
and `item_ids` the user's likes as a list string "[15267, 61075]"; `zen_item_to_name.csv`
(`id,name`) and `zen_item_to_source.csv` (`id,source`, the author as a signed 64-bit id).
Likes carry no time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.data.layouts.world import World

AUTHORS_PER_CATEGORY = 4


def write(world: World, target: Path) -> None:
    rng = world.rng("dzen")
    user_ids = _signed_ids(rng, world.users)
    likes = world.like_frame()
    lists = (likes.group_by("user", maintain_order=True)
             .agg(pl.col("item").cast(pl.String).str.join(", ").alias("item_ids")).sort("user"))
    ratings = pl.DataFrame({"user_id": user_ids[lists["user"].to_numpy()],
                            "item_ids": ("[" + lists["item_ids"] + "]")})
    _write_indexed(ratings, target / "zen_ratings.csv")
    items = world.likes.item_table
    _write_indexed(items.select(pl.col("item_id").alias("id"), "name"), target / "zen_item_to_name.csv")
    author = world.likes.category_of_item * AUTHORS_PER_CATEGORY + np.arange(world.items) % AUTHORS_PER_CATEGORY
    sources = _signed_ids(rng, int(author.max()) + 1)[author]
    _write_indexed(pl.DataFrame({"id": items["item_id"], "source": sources}), target / "zen_item_to_source.csv")


def _signed_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` distinct random signed 64-bit ids, as Dzen's user and source ids are."""
    ids = np.unique(rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, int(count * 1.1) + 16))
    return rng.permutation(ids)[:count]


def _write_indexed(frame: pl.DataFrame, path: Path) -> None:
    """As pandas' `to_csv` writes it: a first, unnamed column holding the row number."""
    body = frame.with_row_index("index").write_csv(include_header=False)
    path.write_text("," + ",".join(frame.columns) + "\n" + body, encoding="utf-8")
