"""Crash-safe writes and content fingerprints.

Every file is written under a temporary name in the same folder and renamed into place, so
a crash or Ctrl-C leaves either the old file or the new one, never half of one. Whole output
folders (a dataset, a split) are built in a hidden sibling folder and renamed at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_atomically(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call `writer(tmp_path)` and rename the result to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, payload: Any) -> Path:
    return write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def write_npz(path: str | Path, matrix) -> Path:
    """`scipy.sparse.save_npz` under an atomic rename (save_npz appends .npz to bare names)."""
    import scipy.sparse as sp

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            sp.save_npz(handle, matrix, compressed=False)

    return write_atomically(path, save)


def write_parquet(path: str | Path, frame) -> Path:
    return write_atomically(path, lambda tmp: frame.write_parquet(tmp))


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces `path` when the block succeeds.

    On any exception (Ctrl-C included) the temporary folder is removed and `path` is left
    exactly as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = _temporary_sibling(path) if path.exists() else None
    if old is not None:
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def file_sha256(path: str | Path, chunk_size: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(payload: Any) -> str:
    """A short stable hash of a JSON-serialisable value (options, source digests...).

    Values are canonicalised first, so the same input spelled two ways hashes the same:
    `min_rating: 4` in YAML and `--min-rating 4` (parsed as 4.0) agree."""
    canonical = json.dumps(canonical_value(payload), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def canonical_value(value: Any) -> Any:
    """Integral floats as ints, tuples as lists, recursively."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): canonical_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_value(v) for v in value]
    return value
