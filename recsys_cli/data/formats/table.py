"""Any CSV/TSV/Parquet table with named user, item and optional weight and time columns."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys_cli.data.tables import (
    SourceTables,
    checked_number,
    checked_time,
    read_csv,
    require_columns,
    scan_parquet,
)
from recsys_cli.errors import InputError

PARQUET_SUFFIXES = {".parquet", ".pq"}


def read(
    path: Path,
    user: str = "user_id",
    item: str = "item_id",
    weight: str | None = None,
    time: str | None = None,
    sep: str | None = None,
) -> SourceTables:
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame = scan_parquet(path)
    else:
        separator = sep if sep is not None else ("\t" if path.suffix.lower() == ".tsv" else ",")
        if separator in ("\\t", "tab"):
            separator = "\t"
        if len(separator.encode()) != 1:
            raise InputError(f"--sep must be one character, got {separator!r}")
        # Ids are identifiers, read as exact text (the builder makes them integers when every
        # one is an integer without leading zeros).
        frame = read_csv(path, path, separator=separator, infer_schema_length=10_000,
                         schema_overrides={user: pl.String, item: pl.String}).lazy()
    wanted = [c for c in (user, item, weight, time) if c is not None]
    require_columns(frame.collect_schema().names(), wanted, path)
    events = frame.select(
        pl.col(user).alias("user_id"),
        pl.col(item).alias("item_id"),
        (checked_number(frame, weight, path) if weight else pl.lit(1.0, dtype=pl.Float32)).alias("weight"),
        (checked_time(frame, time, path) if time else pl.lit(None, dtype=pl.Int64)).alias("timestamp"),
    )
    return SourceTables(events=events, files=[path])
