"""Immutable dataset versions behind the user's folder name.

`recsys ingest … --out data/ml` writes the dataset into
`data/.recsys-store/datasets/ml-<content hash>/` and makes `data/ml` a relative symbolic link
to it, swapped in one rename. A version is never modified or replaced afterwards: an ingest
with other options or changed sources makes a new version and moves the link, so a run that
resolved the link keeps reading its own version (and the splits inside it) to the end; going
back to earlier options finds the earlier version again without parsing anything; `recsys
runs prune` removes the versions that no name and no kept run points at.

Why a symbolic link here when run folders hard-link their artifacts: the user's name must be
a folder that can be listed, opened and passed to `recsys split`, a folder cannot be
hard-linked, and replacing a link is one atomic rename where replacing a folder is not.

A dataset folder written by older versions of recsys (a real folder at the user's name) is
read as it is; the first ingest that needs to replace it moves it into the store under its
content hash (waiting for the runs reading it) and links the name to the new version.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable, Iterable, Iterator

from recsys_cli.core.atomic import (DATA_STORE_DIR, check_output_folder, file_sha256, is_inside, is_stored_version, read_json,
                               remove_stale_siblings, replace_with_link, temporary_sibling)
from recsys_cli.data.dataset import DATASET_FILES
from recsys_cli.data.dataset_lock import dataset_lock, lock_path


def versions_dir(name: Path) -> Path:
    """Where the versions of the dataset named `name` live: beside it, in the store."""
    return Path(name).absolute().parent / DATA_STORE_DIR / "datasets"


def content_digest(folder: Path) -> str:
    """A short hash of a dataset folder's files (its splits are not part of it)."""
    digest = hashlib.sha256()
    for file_name in DATASET_FILES:
        digest.update(f"{file_name}:{file_sha256(folder / file_name)}\n".encode())
    return digest.hexdigest()[:16]


def _read_info(folder: Path) -> dict | None:
    return read_json(folder / "dataset.json")


def known_versions(name: Path) -> Iterator[tuple[Path, dict]]:
    """(folder, dataset.json) of every stored version of `name`, the one it names first (a
    legacy real folder included), then the newest first."""
    name = Path(name)
    current = name.resolve() if name.exists() else None
    if current is not None and (info := _read_info(current)) is not None:
        yield current, info
    root = versions_dir(name)
    if not root.is_dir():
        return
    prefix = f"{name.name}-"
    candidates = [p for p in root.iterdir() if p.name.startswith(prefix) and p.is_dir() and p != current]
    for folder in sorted(candidates, key=lambda p: p.stat().st_mtime, reverse=True):
        info = _read_info(folder)
        if info is not None and info.get("name") == name.name:
            yield folder, info


def version_with_fingerprint(folder: Path, fingerprint: str) -> Path | None:
    """A stored version with this ingest fingerprint, among the versions of the dataset
    that `folder` (a name, or a stored version) belongs to; the newest when several."""
    folder = Path(folder)
    resolved = folder.resolve()
    info = _read_info(resolved) or {}
    name = resolved.parent.parent.parent / info.get("name", "") if is_stored_version(resolved) else folder
    return next((version for version, info in known_versions(name) if info.get("fingerprint") == fingerprint), None)


def publish_version(name: Path, write: Callable[[Path], None]) -> Path:
    """Write a new version with `write(tmp_folder)`, store it under its content hash (an
    identical version already stored is kept and the new copy dropped, so concurrent
    writers of the same dataset leave one) and point `name` at it. Returns the version."""
    name = Path(name)
    root = versions_dir(name)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(root / name.name)
    tmp = temporary_sibling(root / name.name)
    tmp.mkdir()
    try:
        write(tmp)
        version = root / f"{name.name}-{content_digest(tmp)}"
        # Held shared from before the version appears until the name points at it, so a
        # concurrent `recsys runs prune` never sees it unnamed and idle in between.
        with dataset_lock(version, exclusive=False):
            try:
                os.rename(tmp, version)
            except OSError:
                if _read_info(version) is None:
                    raise
                shutil.rmtree(tmp)  # the same bytes are stored already
            point_name(name, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return version


def point_name(name: Path, version: Path) -> None:
    """Make `name` a link to `version`. `name` is missing, an empty folder, one of our
    links or a legacy dataset folder (check_output_folder said so)."""
    name = Path(name)
    check_output_folder(name, "dataset.json")  # again: nothing foreign appeared meanwhile
    if name.is_dir() and not name.is_symlink() and any(name.iterdir()):
        _move_into_store(name)
    replace_with_link(name, version)


def _move_into_store(name: Path) -> None:
    """Move a legacy dataset folder (with its splits) into the store, once no run reads it."""
    with dataset_lock(name, exclusive=True):
        stored = versions_dir(name) / f"{name.name}-{content_digest(name)}"
        if stored.exists():  # the same bytes are stored: keep both, the legacy one holds its splits
            stored = stored.with_name(f"{stored.name}-legacy-{uuid.uuid4().hex[:8]}")
        os.rename(name, stored)


def unused_versions(seen: Iterable[Path], used: Iterable[Path]) -> list[Path]:
    """Stored dataset versions, in the stores holding any of the versions `seen`, that no
    name beside the store points into and that are not among `used`."""
    used = {Path(p).resolve() for p in used}
    seen = {Path(p).resolve() for p in seen}
    stores = {p.parent for p in seen if is_stored_version(p)}
    unused = []
    for root in sorted(p for p in stores if p.is_dir()):
        named = _named(root)
        for version in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if version not in used and not any(is_inside(n, version) for n in named):
                unused.append(version)
    return unused


def _named(root: Path) -> set[Path]:
    """Where the links in the folder beside the store `root` (data/) point."""
    return {Path(entry.path).resolve() for entry in os.scandir(root.parent.parent) if entry.is_symlink()}


def remove_if_idle(version: Path) -> bool:
    """Remove a stored version unless a run holds it (its shared lock): True if removed."""
    class Busy(Exception):
        pass

    def give_up():
        raise Busy

    try:
        with dataset_lock(version, exclusive=True, on_wait=lambda why: give_up()):
            if any(is_inside(n, version) for n in _named(version.parent)):
                return False  # an ingest or split named it since the plan was made
            shutil.rmtree(version)
    except Busy:
        return False
    lock_path(version).unlink(missing_ok=True)
    return True
