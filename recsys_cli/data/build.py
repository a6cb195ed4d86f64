"""SourceTables -> the canonical dataset folder (docs/data.md, "The dataset folder").

    events.parquet   user_idx:int32, item_idx:int32, weight:float32, timestamp:int64|null,
                     one row per event, sorted by (timestamp, user) with the source order
                     breaking ties
    matrix.npz       users x items CSR, float32, duplicate events summed
    users.parquet    user_idx -> user_id (+ metadata)
    items.parquet    item_idx -> item_id (+ name, genres, source, category...)
    dataset.json     format, source files with sha256, options, counts, fingerprint

Indices follow the sorted original ids, so the same input always gives the same indices.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.data.dataset_writer import Recipe, publish_dataset
from recsys_cli.data.filters import apply_filters
from recsys_cli.data.ids import exact_ids
from recsys_cli.data.tables import EVENT_COLUMNS, SourceTables
from recsys_cli.core.errors import InputError

SOURCE_ROW = "_source_row"


def build_dataset(tables: SourceTables, out: Path, recipe: Recipe) -> dict:
    """Clean and index the events and write them as a stored dataset version named `out`
    (the caller checked `out`); return dataset.json's content plus `build_seconds` and
    `path` (reported, not written: the same input and recipe give a byte-identical version)."""
    if tables.aggregate or recipe.filters.aggregate:
        from recsys_cli.data.streaming import build_pair_dataset

        return build_pair_dataset(tables, out, recipe)
    started = time.perf_counter()
    events = _collect_events(tables)
    where = _describe_files(tables.files)
    check_weights(events, where)
    events = events.drop(SOURCE_ROW)
    for column in ("user_id", "item_id"):
        events = events.with_columns(exact_ids(events[column], f"{where}: id column {column}"))
    raw_rows = events.height
    events = events.drop_nulls(["user_id", "item_id"])
    null_ids = raw_rows - events.height
    # A zero weight is no interaction (e.g. Dzen's rating 0); it would be an explicit zero in the CSR.
    events = events.filter(pl.col("weight") != 0)
    zero_weight = raw_rows - null_ids - events.height
    events, filter_stats = apply_filters(events, recipe.filters)
    if events.height == 0:
        raise InputError("no interactions left after reading and filtering; loosen the filters")

    users = events.select(pl.col("user_id").unique().sort()).with_row_index("user_idx")
    items = events.select(pl.col("item_id").unique().sort()).with_row_index("item_idx")
    indexed = (
        events.with_row_index("_order")
        .join(users, on="user_id", how="left")
        .join(items, on="item_id", how="left")
        .sort(["timestamp", "user_idx", "_order"], nulls_last=True)
        .select(
            pl.col("user_idx").cast(pl.Int32),
            pl.col("item_idx").cast(pl.Int32),
            pl.col("weight").cast(pl.Float32),
            pl.col("timestamp").cast(pl.Int64),
        )
    )
    timestamps = indexed["timestamp"].drop_nulls()
    return publish_dataset(
        out, tables, recipe, indexed, events_to_csr(indexed, (users.height, items.height)), users, items,
        counts={"events": indexed.height, "source_rows": raw_rows, "rows_with_null_id": null_ids,
                "zero_weight_events": zero_weight, **filter_stats},
        time_range=[int(timestamps.min()), int(timestamps.max())] if timestamps.len() else None,
        started=started)


def events_to_csr(events: pl.DataFrame, shape: tuple[int, int]):
    """Aggregate (user_idx, item_idx, weight) rows into a float32 CSR, summing duplicates."""
    import scipy.sparse as sp

    matrix = sp.csr_matrix(
        (
            events["weight"].to_numpy().astype(np.float32, copy=False),
            (events["user_idx"].to_numpy(), events["item_idx"].to_numpy()),
        ),
        shape=shape,
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def _collect_events(tables: SourceTables) -> pl.DataFrame:
    schema = tables.events.collect_schema()
    missing = [c for c in EVENT_COLUMNS if c not in schema]
    if missing:  # a reader bug, not bad input
        raise RuntimeError(f"reader produced no {missing} columns")
    # The row index fixes the source order (ties between equal timestamps) and names rows in errors.
    frame = tables.events.select(EVENT_COLUMNS).with_row_index(SOURCE_ROW)
    try:
        return frame.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as error:
        text = str(error).strip()
        raise InputError(f"could not read the events: {text.splitlines()[0] if text else type(error).__name__}",
                         path=_describe_files(tables.files)) from error


def _describe_files(files: list[Path]) -> str:
    names = [str(f) for f in files]
    return ", ".join(names) if len(names) <= 2 else f"{names[0]} (and {len(names) - 1} more files)"


def check_weights(events: pl.DataFrame, where: str) -> None:
    """Refuse missing, NaN, infinite and negative weights, naming the first such row (the
    source's data row, 1-based). Every format passes here, so none can store one."""
    weight = pl.col("weight")
    bad = events.filter(weight.is_null() | ~weight.is_finite() | (weight < 0))
    if bad.height:
        row = bad.row(0, named=True)
        value = "missing" if row["weight"] is None else repr(float(row["weight"]))
        raise InputError(f"row {row[SOURCE_ROW] + 1}, column weight: {value} is not a finite number >= 0 "
                         f"({bad.height:,} such rows); fix or drop these rows", path=where)
