"""Yambda (Yandex Music's public log, huggingface.co/datasets/yandex/yambda). PATH is a
"flat" folder such as `flat/50m/`, `flat/500m/` or `flat/5b/` (4.79 billion events).

- One Parquet file per event type, all keyed by `uid`, `item_id`, `timestamp` (5-second
  units from an anonymised origin; converted here to seconds, so dates read as 1970-based
  and a global temporal split is best given as `--test-ratio`) and `is_organic` (1 when the
  user found the track themselves, 0 when a recommender put it in front of them):
  `listens.parquet` (+ `played_ratio_pct`, `track_length_seconds`), `likes.parquet`,
  `dislikes.parquet`.
- `include` picks the positive parts (default listens and likes); each event weighs 1 and
  repeats add up. `listen_ratio` keeps only listens with `played_ratio_pct >= listen_ratio`
  (the paper's benchmarks count a listen as a like from 50%); `organic_only` drops
  recommendation-driven events. Including `dislikes` removes every (user, item) pair the
  user disliked. Later `unlikes`/`undislikes` are not replayed.
- Item metadata: `artist_item_mapping.parquet` and `album_item_mapping.parquet` (item_id,
  artist_id / album_id), looked up in PATH and in the dataset root two levels up, become
  the `artists` and `albums` list columns of items.parquet.

The log is larger than memory, so the reader only builds lazy scans and asks for the
streaming pair builder (`data/streaming.py`): one row per (user, item) with counts and
first/last times, memory bounded by the pairs.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys_cli.data.tables import SourceTables, collect, require_columns, scan_parquet
from recsys_cli.core.errors import InputError

PARTS = ("listens", "likes", "dislikes")
KEYS = ("uid", "item_id", "timestamp", "is_organic")
TIME_UNIT_SECONDS = 5
METADATA = {"artists": ("artist_item_mapping.parquet", "artist_id"),
            "albums": ("album_item_mapping.parquet", "album_id")}


def read(path: Path, include: tuple[str, ...] = ("listens", "likes"), organic_only: bool = False,
         listen_ratio: float | None = None) -> SourceTables:
    folder = Path(path)
    if not folder.is_dir():
        raise InputError("expected a Yambda flat folder (e.g. flat/50m with listens.parquet, likes.parquet)",
                         path=folder)
    include = tuple(dict.fromkeys(include))
    unknown = [p for p in include if p not in PARTS]
    if unknown:
        raise InputError(f"--include {', '.join(unknown)}: expected some of {', '.join(PARTS)}")
    positives = [p for p in include if p != "dislikes"]
    if not positives:
        raise InputError("--include needs listens or likes: dislikes alone are no positive interactions")
    if listen_ratio is not None and not 0 <= listen_ratio:
        raise InputError(f"--listen-ratio must be a percentage >= 0, got {listen_ratio}")

    files, scans = [], {}
    for part in include:
        file = folder / f"{part}.parquet"
        if not file.is_file():
            raise InputError(f"no {part}.parquet found (asked for by --include {part})", path=folder)
        frame = scan_parquet(file)
        extra = ["played_ratio_pct"] if part == "listens" and listen_ratio is not None else []
        require_columns(frame.collect_schema().names(), [*KEYS, *extra], file)
        if organic_only:
            frame = frame.filter(pl.col("is_organic").cast(pl.Boolean))
        if part == "listens" and listen_ratio is not None:
            frame = frame.filter(pl.col("played_ratio_pct") >= listen_ratio)
        files.append(file)
        scans[part] = frame.select(
            pl.col("uid").cast(pl.Int64).alias("user_id"),
            pl.col("item_id").cast(pl.Int64),
            pl.lit(1.0, dtype=pl.Float32).alias("weight"),
            (pl.col("timestamp").cast(pl.Int64) * TIME_UNIT_SECONDS).alias("timestamp"),
        )
    events = pl.concat([scans[p] for p in positives], how="vertical")
    if "dislikes" in scans:
        disliked = scans["dislikes"].select("user_id", "item_id").unique()
        events = events.join(disliked, on=["user_id", "item_id"], how="anti")
    items, metadata_files = _item_metadata(folder)
    return SourceTables(events=events, files=files + metadata_files, items=items, aggregate=True)


def _item_metadata(folder: Path) -> tuple[pl.DataFrame | None, list[Path]]:
    """artists / albums list columns from the mapping files next to the log or at its root."""
    items, files = None, []
    for column, (name, key) in METADATA.items():
        file = next((d / name for d in (folder, folder.parent.parent) if (d / name).is_file()), None)
        if file is None:
            continue
        frame = scan_parquet(file)
        require_columns(frame.collect_schema().names(), ["item_id", key], file)
        lists = collect(
            frame.group_by(pl.col("item_id").cast(pl.Int64))
            .agg(pl.col(key).cast(pl.String).unique().sort().alias(column)), file)
        items = lists if items is None else items.join(lists, on="item_id", how="full", coalesce=True)
        files.append(file)
    return items, files
