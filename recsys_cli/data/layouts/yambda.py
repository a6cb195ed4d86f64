"""Yambda's flat layout (huggingface.co/datasets/yandex/yambda, `data/formats/yambda.py`):
`flat/50m/listens.parquet` (uid, timestamp, item_id, is_organic, played_ratio_pct,
track_length_seconds), `likes.parquet` and `dislikes.parquet` (uid, timestamp, item_id,
is_organic), unsigned integers, time in 5-second units from an anonymised origin; and at the
dataset root `artist_item_mapping.parquet` (item_id, artist_id) and
`album_item_mapping.parquet` (item_id, album_id). Liked tracks are played through, again and
again, and a third of them liked; other tracks are played once, often skipped, sometimes
disliked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.data.layouts.world import YEAR_START, World, repeat_rows

FLAT = Path("flat") / "50m"
TIME_UNIT_SECONDS = 5
TRACKS_PER_ARTIST = 6
TRACKS_PER_ALBUM = 3


def write(world: World, target: Path) -> None:
    rng = world.rng("yambda")
    liked = repeat_rows(world.like_frame(), rng, mean_extra=2.0, spread_days=90)
    other = world.other_pairs(rng, share=1.0)
    listens = pl.concat([
        liked.with_columns(pl.Series("played_ratio_pct", rng.integers(60, 101, liked.height))),
        other.with_columns(pl.Series("played_ratio_pct", rng.integers(0, 101, other.height))),
    ]).sort("timestamp", "user", maintain_order=True)
    length = rng.integers(90, 420, world.items)
    listens = listens.with_columns(pl.Series("track_length_seconds", length[listens["item"].to_numpy()]))
    likes = world.like_frame().filter(pl.Series(rng.random(len(world.likes.users)) < 0.3))
    skipped = other.filter(pl.Series(rng.random(other.height) < 0.1))
    folder = target / FLAT
    folder.mkdir(parents=True)
    _events(listens, rng).with_columns(
        pl.col("played_ratio_pct").cast(pl.UInt16), pl.col("track_length_seconds").cast(pl.UInt32),
    ).write_parquet(folder / "listens.parquet")
    _events(likes, rng).write_parquet(folder / "likes.parquet")
    _events(skipped, rng).write_parquet(folder / "dislikes.parquet")
    for name, key, size in (("artist", "artist_id", TRACKS_PER_ARTIST), ("album", "album_id", TRACKS_PER_ALBUM)):
        pl.DataFrame({"item_id": np.arange(world.items), key: world.groups(size)}, schema={
            "item_id": pl.UInt32, key: pl.UInt32}).write_parquet(target / f"{name}_item_mapping.parquet")


def _events(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Yambda's key columns: uid, timestamp (5-second units since the first day), item_id,
    is_organic (40% of events found by the user, the rest put in front of them)."""
    organic = rng.random(frame.height) < 0.4
    return frame.select(
        pl.col("user").cast(pl.UInt32).alias("uid"),
        ((pl.col("timestamp") - YEAR_START) // TIME_UNIT_SECONDS).cast(pl.UInt32).alias("timestamp"),
        pl.col("item").cast(pl.UInt32).alias("item_id"),
        pl.Series("is_organic", organic.astype(np.uint8)),
        *[c for c in ("played_ratio_pct", "track_length_seconds") if c in frame.columns],
    )
