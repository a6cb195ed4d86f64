"""Any CSV/TSV/Parquet table with named user, item and optional weight and time columns."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys_cli.data.tables import (
    SourceTables,
    checked_number,
    checked_time,
    require_columns,
    scan_parquet,
)
from recsys_cli.data.delimited import read_delimited, resolve_column
from recsys_cli.core.errors import InputError

PARQUET_SUFFIXES = {".parquet", ".pq"}


def read(
    path: Path,
    user: str = "user_id",
    item: str = "item_id",
    weight: str | None = None,
    time: str | None = None,
    sep: str | None = None,
    header: bool = True,
) -> SourceTables:
    """`sep` may be several characters (`::`) and is guessed for other suffixes than .csv/.tsv;
    without a `header` row columns are `1`, `2`, ... and user/item default to the first two.
    Columns may be named by 1-based position (`user="1"`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame = scan_parquet(path)
    else:
        table = read_delimited(path, sep, header)
        if not header:
            user, item = ("1" if user == "user_id" else user), ("2" if item == "item_id" else item)
        user, item, weight, time = (None if c is None else resolve_column(table, c, path) for c in (user, item, weight, time))
        frame = table.lazy()
    wanted = [c for c in (user, item, weight, time) if c is not None]
    require_columns(frame.collect_schema().names(), wanted, path)
    events = frame.select(
        pl.col(user).alias("user_id"),
        pl.col(item).alias("item_id"),
        (checked_number(frame, weight, path) if weight else pl.lit(1.0, dtype=pl.Float32)).alias("weight"),
        (checked_time(frame, time, path) if time else pl.lit(None, dtype=pl.Int64)).alias("timestamp"),
    )
    return SourceTables(events=events, files=[path])
