"""Writing a dataset folder (events.parquet, matrix.npz, users/items.parquet, dataset.json):
shared by the per-event build (build.py) and the streaming one (streaming.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli import __version__
from recsys_cli.atomic import check_output_folder, write_json, write_npz
from recsys_cli.data.dataset_store import publish_version
from recsys_cli.data.filters import IngestFilters
from recsys_cli.data.ids import with_metadata
from recsys_cli.data.tables import SourceTables

SCHEMA_VERSION = 1


def publish_dataset(out: Path, tables: SourceTables, indexed: pl.DataFrame, matrix, users: pl.DataFrame,
                    items: pl.DataFrame, *, counts: dict, time_range: list[int] | None, fmt: str, options: dict,
                    filters: IngestFilters, digests: list[dict], dataset_fingerprint: str, weighting, sources,
                    started: float, extra: dict | None = None) -> dict:
    """The one writer of a dataset (per-event and streaming builds alike): weighs the
    matrix, joins the id tables' metadata, writes the files and dataset.json as a new stored
    version and points the name `out` at it (data/dataset_store.py). Returns dataset.json's
    content plus `build_seconds` and `path` (the version), which are reported, not written:
    the same input and options give a byte-identical version."""
    check_output_folder(out, "dataset.json", sources)
    raw_values = {"median": float(np.median(matrix.data)), "max": float(matrix.data.max())} if matrix.nnz else None
    if weighting is not None:
        matrix = weighting(matrix)
    users_table = with_metadata(users, tables.users, "user_id", "user_idx")
    items_table = with_metadata(items, tables.items, "item_id", "item_idx")
    info = {
        "schema_version": SCHEMA_VERSION,
        "name": out.name,
        "format": fmt,
        "created_by": f"recsys_cli {__version__}",
        "fingerprint": dataset_fingerprint,
        "sources": digests,
        "options": options,
        "filters": filters.as_dict(),
        **(extra or {}),
        "counts": {
            "users": users.height,
            "items": items.height,
            "events": counts.pop("events"),
            "interactions": int(matrix.nnz),
            "density": matrix.nnz / (users.height * items.height),
            **counts,
            **tables.stats,
        },
        "weight_range": raw_values,  # of the aggregated values, before any weighting
        "weighting": filters.weighting,
        "has_timestamps": time_range is not None,
        "weight_kind": tables.weight_kind,
        "time_range": time_range,
        "item_metadata": [c for c in items_table.columns if c not in ("item_idx", "item_id")],
    }

    def write(tmp: Path) -> None:
        indexed.write_parquet(tmp / "events.parquet")
        write_npz(tmp / "matrix.npz", matrix)
        users_table.write_parquet(tmp / "users.parquet")
        items_table.write_parquet(tmp / "items.parquet")
        write_json(tmp / "dataset.json", info)

    version = publish_version(out, write)
    return {**info, "build_seconds": round(time.perf_counter() - started, 3), "path": str(version)}
