"""Crash-safe writes and content fingerprints.

Every file is written under a temporary name in the same folder and renamed into place, so
a crash or Ctrl-C leaves either the old file or the new one, never half of one. Whole output
folders (a dataset, a split) are built in a hidden sibling folder and renamed at the end.

Publishing a folder never destroys what the user did not hand over: the target must be
missing, an empty folder, or a recsys folder of the same kind (it holds the kind's marker
file, e.g. `dataset.json`), and it may neither be nor contain a source the output is built
from. Temporary siblings (`.NAME.tmp-PID-*`) left behind by a killed process are removed at
the next write of the same target, once their process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from recsys_cli.core.errors import InputError


def temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (one owned by another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_siblings(path: Path) -> list[Path]:
    """Remove `.NAME.tmp-PID-*` siblings of `path` whose process no longer runs.

    Names are matched as plain strings (never as a glob: user paths may contain `*` or `[`).
    """
    prefix = f".{path.name}.tmp-"
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        stale = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


def is_inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output_folder(path: str | Path, marker: str, sources: Iterable[str | Path] = ()) -> None:
    """Refuse (InputError, exit 2) to publish a folder of kind `marker` at `path` unless the
    target is missing, empty, or already a folder of that kind; never over a source."""
    path = Path(path)
    kind = marker.removesuffix(".json")
    resolved = path.resolve()
    for source in sources:
        if source is not None and is_inside(Path(source).resolve(), resolved):
            raise InputError(f"--out would replace the source {source}; choose another output folder", path=path)
    if path.is_symlink():
        if is_our_link(path, marker):
            return  # only the link is replaced, never what it points at
        raise InputError(f"is a symbolic link; give the real folder to write the {kind} into", path=path)
    if not path.exists():
        return
    if not path.is_dir():
        raise InputError(f"is a file, not a folder; refusing to replace it with a {kind} folder", path=path)
    if (path / marker).is_file():
        return
    other = [name for name in ("dataset.json", "split.json") if name != marker and (path / name).is_file()]
    if other:
        raise InputError(f"is a {other[0].removesuffix('.json')} folder, not a {kind} folder; "
                         "choose another output folder", path=path)
    if any(path.iterdir()):
        raise InputError(f"exists and is not a recsys {kind} folder (no {marker}); refusing to replace "
                         "its files: choose a new or empty folder (--force only replaces recsys folders)",
                         path=path)


DATA_STORE_DIR = ".recsys-store"


def is_stored_version(folder: Path) -> bool:
    """Whether `folder` (resolved) is a dataset version in a store: `.../.recsys-store/datasets/V`."""
    return folder.parent.name == "datasets" and folder.parent.parent.name == DATA_STORE_DIR


def is_our_link(path: Path, marker: str) -> bool:
    """Whether the symbolic link `path` is one recsys made: a name for a stored dataset
    version (`.../.recsys-store/datasets/V/`) or for a split folder inside a dataset
    (`.../splits/S/`), holding the kind's marker file."""
    target = Path(path).resolve()
    if not (target / marker).is_file():
        return False
    if marker == "dataset.json":
        return is_stored_version(target)
    return target.parent.name == "splits" and (target.parent.parent / "dataset.json").is_file()


def replace_with_link(path: str | Path, target: str | Path) -> None:
    """Make `path` a relative symbolic link to `target` in one rename (readers see the old
    link or the new one). `path` is missing, a link, or a folder the caller checked is ours
    (an empty one, or a recsys folder of the kind), which is set aside and removed."""
    path, target = Path(path), Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    aside = None
    if path.is_dir() and not path.is_symlink():
        aside = temporary_sibling(path)
        os.replace(path, aside)
    tmp = temporary_sibling(path)
    os.symlink(os.path.relpath(target.resolve(), path.parent.resolve()), tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if aside is not None:
            os.replace(aside, path)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def write_atomically(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call `writer(tmp_path)` and rename the result to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    tmp = temporary_sibling(path)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: str | Path) -> dict | None:
    """A JSON object written by recsys (a record, manifest, dataset.json), or None when the
    file is missing, unreadable, not JSON or not an object."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def json_value(value: Any) -> Any:
    """`json.dumps(default=...)`: read-only mappings (frozen records) as objects, numpy
    scalars as numbers, anything else as its text."""
    from collections.abc import Mapping

    import numpy as np

    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def write_json(path: str | Path, payload: Any) -> Path:
    return write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=json_value) + "\n")


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
def atomic_directory(path: str | Path, marker: str | None = None,
                     sources: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield a temporary folder that replaces `path` when the block succeeds.

    With `marker` (the kind's file, e.g. "dataset.json") the target is checked by
    `check_output_folder` before the work and again just before the swap, and the block
    must write the marker. On any exception (Ctrl-C included) the temporary folder is
    removed and `path` is left exactly as it was.
    """
    path = Path(path)
    if marker is not None:
        check_output_folder(path, marker, sources)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    tmp = temporary_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        if marker is not None:
            if not (tmp / marker).is_file():
                raise RuntimeError(f"{marker} was not written into {tmp}")
            check_output_folder(path, marker, sources)  # nothing foreign appeared meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = temporary_sibling(path) if path.exists() else None
    if old is not None:
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """The file's sha256, read into one reused buffer (a third faster than a new bytes object
    per chunk: a query hashes every model file it loads)."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            digest.update(view[:size])
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
