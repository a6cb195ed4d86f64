"""SourceTables -> the canonical dataset folder (see ../shared/DESIGN.md).

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

from recsys_cli import __version__
from recsys_cli.atomic import atomic_directory, file_sha256, fingerprint, write_json, write_npz
from recsys_cli.data.filters import IngestFilters, apply_filters
from recsys_cli.data.tables import EVENT_COLUMNS, SourceTables
from recsys_cli.errors import InputError

SCHEMA_VERSION = 1


def source_digests(files: list[Path]) -> list[dict]:
    return [{"path": str(f), "sha256": file_sha256(f), "bytes": f.stat().st_size} for f in files]


def ingest_fingerprint(fmt: str, digests: list[dict], options: dict, filters: IngestFilters) -> str:
    return fingerprint(
        {
            "schema": SCHEMA_VERSION,
            "format": fmt,
            "sources": [d["sha256"] for d in digests],
            "options": options,
            "filters": filters.as_dict(),
        }
    )


def build_dataset(
    tables: SourceTables,
    out: Path,
    *,
    fmt: str,
    options: dict,
    filters: IngestFilters,
    digests: list[dict],
    dataset_fingerprint: str,
    weighting=None,
) -> dict:
    """Clean, index and write the dataset folder atomically; return dataset.json's content.
    `weighting` (matrix -> matrix) transforms the aggregated values of matrix.npz; the events
    keep their raw weights."""
    if tables.aggregate or filters.aggregate:
        from recsys_cli.data.streaming import build_pair_dataset

        return build_pair_dataset(tables, out, fmt=fmt, options=options, filters=filters, digests=digests,
                                  dataset_fingerprint=dataset_fingerprint, weighting=weighting)
    started = time.perf_counter()
    events = _collect_events(tables)
    raw_rows = events.height
    events = events.drop_nulls(["user_id", "item_id"])
    null_ids = raw_rows - events.height
    # A zero weight is no interaction (e.g. Dzen's rating 0); it would be an explicit zero in the CSR.
    events = events.filter(pl.col("weight") != 0)
    zero_weight = raw_rows - null_ids - events.height
    events, filter_stats = apply_filters(events, filters)
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
    matrix = events_to_csr(indexed, (users.height, items.height))
    raw_values = {"median": float(np.median(matrix.data)), "max": float(matrix.data.max())} if matrix.nnz else None
    if weighting is not None:
        matrix = weighting(matrix)
    users_table = _with_metadata(users, tables.users, "user_id", "user_idx")
    items_table = _with_metadata(items, tables.items, "item_id", "item_idx")

    timestamps = indexed["timestamp"].drop_nulls()
    info = {
        "schema_version": SCHEMA_VERSION,
        "name": out.name,
        "format": fmt,
        "created_by": f"recsys_cli {__version__}",
        "fingerprint": dataset_fingerprint,
        "sources": digests,
        "options": options,
        "filters": filters.as_dict(),
        "counts": {
            "users": users.height,
            "items": items.height,
            "events": indexed.height,
            "interactions": int(matrix.nnz),
            "density": matrix.nnz / (users.height * items.height),
            "source_rows": raw_rows,
            "rows_with_null_id": null_ids,
            "zero_weight_events": zero_weight,
            **tables.stats,
            **filter_stats,
        },
        "weight_range": raw_values,  # of the aggregated values, before any weighting
        "weighting": filters.weighting,
        "has_timestamps": timestamps.len() > 0,
        "weight_kind": tables.weight_kind,
        "time_range": [int(timestamps.min()), int(timestamps.max())] if timestamps.len() else None,
        "item_metadata": [c for c in items_table.columns if c not in ("item_idx", "item_id")],
        "build_seconds": None,
    }
    with atomic_directory(out) as tmp:
        indexed.write_parquet(tmp / "events.parquet")
        write_npz(tmp / "matrix.npz", matrix)
        users_table.write_parquet(tmp / "users.parquet")
        items_table.write_parquet(tmp / "items.parquet")
        info["build_seconds"] = round(time.perf_counter() - started, 3)
        write_json(tmp / "dataset.json", info)
    return info


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
    frame = tables.events.select(EVENT_COLUMNS)
    try:
        return frame.collect(engine="streaming")
    except pl.exceptions.PolarsError as error:
        raise InputError(f"could not read the events: {str(error).splitlines()[0]}") from error


def _with_metadata(index: pl.DataFrame, metadata: pl.DataFrame | None, key: str, idx: str) -> pl.DataFrame:
    table = index.select(pl.col(idx).cast(pl.Int32), key)
    if metadata is None:
        return table
    metadata = metadata.with_columns(pl.col(key).cast(table.schema[key], strict=False))
    return table.join(metadata.unique(key, keep="first"), on=key, how="left")
