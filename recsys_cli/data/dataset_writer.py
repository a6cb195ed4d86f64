"""Writing a dataset folder (events.parquet, matrix.npz, users/items.parquet, dataset.json):
shared by the per-event build (build.py) and the streaming one (streaming.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from recsys_cli import __version__
from recsys_cli.core.atomic import file_sha256, fingerprint, write_json, write_npz
from recsys_cli.data.dataset_store import publish_version
from recsys_cli.data.filters import IngestFilters
from recsys_cli.data.ids import with_metadata
from recsys_cli.data.tables import SourceTables

SCHEMA_VERSION = 1


def source_digests(files: list[Path]) -> list[dict]:
    return [{"path": str(f), "sha256": file_sha256(f), "bytes": f.stat().st_size} for f in files]


@dataclass(frozen=True)
class Recipe:
    """What a dataset is made from, as its dataset.json records it: the format, the reader's
    options, the filters and the source files' digests; `weighting` (matrix -> matrix)
    transforms matrix.npz's aggregated values (the events keep their raw weights)."""

    fmt: str
    options: dict
    filters: IngestFilters
    digests: list[dict]
    weighting: Callable | None = None

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint({"schema": SCHEMA_VERSION, "format": self.fmt,
                            "sources": [d["sha256"] for d in self.digests], "options": self.options,
                            "filters": self.filters.as_dict()})


def publish_dataset(out: Path, tables: SourceTables, recipe: Recipe, indexed: pl.DataFrame, matrix,
                    users: pl.DataFrame, items: pl.DataFrame, *, counts: dict, time_range: list[int] | None,
                    started: float, extra: dict | None = None) -> dict:
    """The one writer of a dataset (per-event and streaming builds alike): weighs the
    matrix, joins the id tables' metadata, writes the files and dataset.json as a new stored
    version and points the name `out` at it (data/dataset_store.py). Returns dataset.json's
    content plus `build_seconds` and `path` (the version), which are reported, not written:
    the same input and options give a byte-identical version."""
    raw_values = {"median": float(np.median(matrix.data)), "max": float(matrix.data.max())} if matrix.nnz else None
    if recipe.weighting is not None:
        matrix = recipe.weighting(matrix)
    users_table = with_metadata(users, tables.users, "user_id", "user_idx")
    items_table = with_metadata(items, tables.items, "item_id", "item_idx")
    info = {
        "schema_version": SCHEMA_VERSION,
        "name": out.name,
        "format": recipe.fmt,
        "created_by": f"recsys_cli {__version__}",
        "fingerprint": recipe.fingerprint,
        "sources": recipe.digests,
        "options": recipe.options,
        "filters": recipe.filters.as_dict(),
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
        "weighting": recipe.filters.weighting,
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
