"""The Yandex Music course layout (seed 004, `data/formats/yandex_music.py`), raw:
`interactions.parquet` (user_id, track_id, track_seq = order within the user's day,
started_at: a date in 2022, so seed 004's cut at 2022-12-16 holds out the last two weeks),
`tracks.parquet` (track_id, albums, artists, genres: lists of catalogue ids) and
`catalog_names.parquet` (id, type = track/album/artist/genre, name; ids overlap between
types, as in the real catalogue). Liked tracks are played again and again; other tracks once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.data.layouts.world import World, repeat_rows

TRACKS_PER_ARTIST = 6
TRACKS_PER_ALBUM = 3


def write(world: World, target: Path) -> None:
    rng = world.rng("yandex-music")
    listens = pl.concat([repeat_rows(world.like_frame(), rng, mean_extra=1.5, spread_days=60),
                         world.other_pairs(rng, share=0.5)])
    listens.sort("user", "timestamp", maintain_order=True).select(
        pl.col("user").cast(pl.Int32).alias("user_id"),
        pl.col("item").cast(pl.Int32).alias("track_id"),
        pl.from_epoch("timestamp", time_unit="s").dt.date().alias("started_at"),
    ).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int16).over("user_id", "started_at").alias("track_seq"),
    ).select("user_id", "track_id", "track_seq", "started_at").write_parquet(target / "interactions.parquet")
    tracks, names = _catalogue(world, rng)
    tracks.write_parquet(target / "tracks.parquet")
    names.write_parquet(target / "catalog_names.parquet")


def _catalogue(world: World, rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    category = world.likes.category_of_item
    artist, album = world.groups(TRACKS_PER_ARTIST), world.groups(TRACKS_PER_ALBUM)
    second_genre = np.where(rng.random(world.items) < 0.2, rng.integers(0, len(world.categories), world.items), -1)
    tracks = pl.DataFrame({"track_id": np.arange(world.items, dtype=np.int32),
                           "albums": _lists(album[:, None]), "artists": _lists(artist[:, None]),
                           "genres": _lists(np.c_[category, second_genre])}).with_columns(
        pl.col("genres").list.eval(pl.element().filter(pl.element() >= 0)).list.unique(maintain_order=True))
    items = world.likes.item_table
    names = pl.concat([
        pl.DataFrame({"id": items["item_id"], "type": "track", "name": items["name"]}),
        pl.DataFrame({"id": np.arange(album.max() + 1), "type": "album"}).with_columns(
            pl.format("Album {}", "id").alias("name")),
        pl.DataFrame({"id": np.arange(artist.max() + 1), "type": "artist"}).with_columns(
            pl.format("Artist {}", "id").alias("name")),
        pl.DataFrame({"id": np.arange(len(world.categories)), "type": "genre",
                      "name": pl.Series(world.categories).str.to_lowercase()}),
    ], how="vertical_relaxed")
    return tracks, names.with_columns(pl.col("id").cast(pl.Int64))


def _lists(rows: np.ndarray) -> pl.Series:
    """A 2-d array as a column of id lists."""
    return pl.Series(rows.astype(np.int64)).cast(pl.List(pl.Int64))
