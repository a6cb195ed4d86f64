"""The stages as plain functions over typed inputs; the CLI and `recsys run` call these.

Each stage writes its output folder atomically and records a fingerprint of its inputs, so
running it again with the same inputs is a no-op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys_cli.atomic import atomic_directory, file_sha256, fingerprint, write_json, write_npz
from recsys_cli.data.filters import IngestFilters
from recsys_cli.errors import InputError


@dataclass
class StageResult:
    path: Path
    info: dict
    skipped: bool  # True when the folder was already up to date


def _existing_info(path: Path, name: str) -> dict | None:
    try:
        return json.loads((path / name).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def ingest(
    fmt: str,
    source: Path | None,
    out: Path,
    options: dict | None = None,
    filters: IngestFilters | None = None,
    force: bool = False,
) -> StageResult:
    """Read `source` in format `fmt` and write the canonical dataset folder `out`."""
    from recsys_cli.data.build import build_dataset, ingest_fingerprint, source_digests
    from recsys_cli.data.sources import reader

    options = {k: v for k, v in (options or {}).items() if v is not None}
    filters = filters or IngestFilters()
    read = reader(fmt)
    if source is not None and not Path(source).exists():
        raise InputError("no such file or folder", path=source)
    # A JSON round trip, so options compare equal to the ones read back from dataset.json.
    recorded_options = json.loads(json.dumps(
        {"source": str(source) if source is not None else None, **options}, default=str))
    previous = _existing_info(out, "dataset.json")
    if not force and _ingest_is_current(previous, fmt, recorded_options, filters):
        return StageResult(out, previous, skipped=True)
    tables = read(Path(source) if source is not None else None, **options)
    digests = source_digests(tables.files)
    info = build_dataset(
        tables, out, fmt=fmt, options=recorded_options, filters=filters, digests=digests,
        dataset_fingerprint=ingest_fingerprint(fmt, digests, recorded_options, filters),
    )
    return StageResult(out, info, skipped=False)


def _ingest_is_current(previous: dict | None, fmt: str, options: dict, filters: IngestFilters) -> bool:
    """Whether `previous` dataset.json was built from these options and unchanged source
    files — decided by re-hashing the files it lists, without parsing anything."""
    from recsys_cli.data.build import ingest_fingerprint, source_digests

    if previous is None or previous.get("format") != fmt or previous.get("options") != options:
        return False
    files = [Path(entry["path"]) for entry in previous.get("sources", [])]
    if not all(f.is_file() for f in files):
        return False
    return ingest_fingerprint(fmt, source_digests(files), options, filters) == previous.get("fingerprint")


def split(
    dataset_dir: Path,
    strategy: str,
    out: Path,
    params: dict | None = None,
    seed: int = 42,
    validation: bool = False,
    force: bool = False,
) -> StageResult:
    """Split a dataset folder into train/test (and validation) CSR files under `out`."""
    from recsys_cli.data import splits
    from recsys_cli.data.dataset import Dataset

    dataset = Dataset.open(dataset_dir)
    params = {k: v for k, v in (params or {}).items() if v is not None}
    if strategy not in splits.STRATEGIES:
        raise InputError(f"unknown split strategy {strategy!r}; expected one of {', '.join(splits.STRATEGIES)}")
    key = fingerprint({"dataset": dataset.fingerprint, "strategy": strategy, "params": params,
                       "seed": seed, "validation": validation, "version": 1})
    previous = _existing_info(out, "split.json")
    if not force and previous is not None and previous.get("fingerprint") == key:
        return StageResult(out, previous, skipped=True)

    events = dataset.events() if strategy in splits.TIME_STRATEGIES else None
    cells = splits.Cells.from_matrix(dataset.matrix, events)
    labels = splits.assign(cells, strategy, params, seed)
    parts = {splits.PART_FILES[code]: cells.to_csr(labels == code) for code in np.unique(labels)}
    parts.setdefault("test", cells.to_csr(np.zeros(len(labels), dtype=bool)))
    if validation:
        train_cells = cells.subset(labels == splits.TRAIN)
        valid_params = splits.validation_params(strategy, params, cells, labels)
        valid_labels = splits.assign(train_cells, strategy, valid_params, seed + 1)
        for code in np.unique(valid_labels):
            parts[splits.VALIDATION_FILES[code]] = train_cells.to_csr(valid_labels == code)

    with atomic_directory(out) as tmp:
        for name, matrix in parts.items():
            write_npz(tmp / f"{name}.npz", matrix)
        info = {
            "strategy": strategy,
            "params": {**splits.strategy_params(strategy), **params},
            "seed": seed,
            "validation": validation,
            "dataset": {"path": str(dataset.path), "fingerprint": dataset.fingerprint},
            "fingerprint": key,
            "shape": list(cells.shape),
            "parts": {
                name: {
                    "interactions": int(matrix.nnz),
                    "users": int(np.count_nonzero(np.diff(matrix.indptr))),
                    "sha256": file_sha256(tmp / f"{name}.npz"),
                }
                for name, matrix in parts.items()
            },
        }
        write_json(tmp / "split.json", info)
    return StageResult(out, info, skipped=False)
