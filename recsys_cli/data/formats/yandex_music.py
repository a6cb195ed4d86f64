"""Yandex-Music-style listening events (seed 004). PATH is the folder.

- Events: `events.parquet` or `interactions.parquet` with `user_id`, `item_id` or `track_id`,
  `started_at` (date or datetime) and optional `track_seq` (order within a user's day).
  Each listen is one event of weight 1; repeats add up in the matrix.
- Items: `items.parquet` (`item_id, name, genres, artists, albums`, list columns), or the raw
  pair `tracks.parquet` (`track_id, albums, artists, genres` as id lists) +
  `catalog_names.parquet` (`id, type, name`), resolved to names.

The real log has hundreds of millions of rows, so everything here stays a lazy scan.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys_cli.data.tables import (
    SourceTables,
    checked_integer_id,
    checked_time,
    collect,
    ensure_integer_ids,
    first_existing,
    require_columns,
    scan_parquet,
)
from recsys_cli.core.errors import InputError

CATALOG_LISTS = {"albums": "album", "artists": "artist", "genres": "genre"}


def read(path: Path) -> SourceTables:
    folder = Path(path)
    if not folder.is_dir():
        raise InputError("expected the music data folder", path=folder)
    events_file = first_existing(folder, ["events.parquet", "interactions.parquet"])
    if events_file is None:
        raise InputError("no events.parquet or interactions.parquet found", path=folder)
    frame = scan_parquet(events_file)
    columns = frame.collect_schema().names()
    item_column = "item_id" if "item_id" in columns else "track_id"
    require_columns(columns, ["user_id", item_column, "started_at"], events_file)
    if "track_seq" in columns:
        # A stable sort keeps listening order inside a day for leave-last-out and ties.
        frame = frame.sort("user_id", "started_at", "track_seq", maintain_order=True)
    events = frame.select(
        checked_integer_id(frame, "user_id", events_file).alias("user_id"),
        checked_integer_id(frame, item_column, events_file).alias("item_id"),
        pl.lit(1.0, dtype=pl.Float32).alias("weight"),
        checked_time(frame, "started_at", events_file).alias("timestamp"),
    )
    files = [events_file]
    items = None
    items_file = first_existing(folder, ["items.parquet"])
    tracks_file = first_existing(folder, ["tracks.parquet"])
    if items_file is not None:
        files.append(items_file)
        items = collect(scan_parquet(items_file), items_file)
        require_columns(items.columns, ["item_id"], items_file)
        items = ensure_integer_ids(items, "item_id", items_file)
    elif tracks_file is not None:
        names_file = first_existing(folder, ["catalog_names.parquet"])
        files += [tracks_file] + ([names_file] if names_file else [])
        items = _resolve_tracks(tracks_file, names_file)
    if items is not None:
        items = items.unique("item_id", keep="first")
    return SourceTables(events=events, items=items, files=files)


def _resolve_tracks(tracks_file: Path, names_file: Path | None) -> pl.DataFrame:
    """tracks (id lists) + catalog_names (id, type, name) -> item_id, name, genres, artists, albums."""
    tracks = collect(scan_parquet(tracks_file), tracks_file)
    require_columns(tracks.columns, ["track_id"], tracks_file)
    tracks = ensure_integer_ids(tracks, "track_id", tracks_file).rename({"track_id": "item_id"})
    if names_file is None:
        return tracks
    names = collect(scan_parquet(names_file), names_file)
    require_columns(names.columns, ["id", "type", "name"], names_file)
    names = ensure_integer_ids(names, "id", names_file)
    track_names = names.filter(pl.col("type") == "track").select(
        pl.col("id").alias("item_id"), "name"
    ).unique("item_id", keep="first")
    items = tracks.join(track_names, on="item_id", how="left")
    for column, kind in CATALOG_LISTS.items():
        if column not in items.columns:
            continue
        lookup = names.filter(pl.col("type") == kind).select(
            pl.col("id").alias("_ref"), pl.col("name").alias("_name")
        ).unique("_ref", keep="first")
        references = ensure_integer_ids(items.select("item_id", column).explode(column), column, tracks_file)
        resolved = (
            references.rename({column: "_ref"})
            .join(lookup, on="_ref", how="left")
            .group_by("item_id", maintain_order=True)
            .agg(pl.col("_name").drop_nulls().alias(column))
        )
        items = items.drop(column).join(resolved, on="item_id", how="left").with_columns(
            pl.col(column).fill_null(pl.lit([], dtype=pl.List(pl.String)))
        )
    return items
