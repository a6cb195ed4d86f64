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

Each version records its files' sha256, size and modification time (`checksums.json`,
sealed), checked when the version is reused (core/integrity.py): a damaged version is moved
aside into `.recsys-store/.damaged/` and rebuilt. A run registers the runs store that read a
version (`.recsys-store/readers/<version>/<store id>`); `recsys runs prune` removes a version
only for the one store that registered reading it, so a copy of a runs folder never deletes
the versions the original's runs read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Callable, Iterable, Iterator

from recsys_cli.core.atomic import (DATA_STORE_DIR, check_output_folder, file_sha256, is_inside, is_stored_version, read_json,
                               remove_stale_siblings, replace_with_link, temporary_sibling, write_json)
from recsys_cli.core.integrity import Damage, Sessions, StoreWarning, check_files, checksums, full_checks, seal, sealed
from recsys_cli.core.trash import empty, finish_removals, new_trash, set_aside
from recsys_cli.data.dataset import DATASET_FILES
from recsys_cli.data.dataset_lock import dataset_lock, lock_path

CHECKSUMS = "checksums.json"


def versions_dir(name: Path) -> Path:
    """Where the versions of the dataset named `name` live: beside it, in the store."""
    return Path(name).absolute().parent / DATA_STORE_DIR / "datasets"


def content_digest(folder: Path, sums: dict[str, dict] | None = None) -> str:
    """A short hash of a dataset folder's files (its splits are not part of it)."""
    digest = hashlib.sha256()
    for file_name in DATASET_FILES:
        sha = sums[file_name]["sha256"] if sums else file_sha256(folder / file_name)
        digest.update(f"{file_name}:{sha}\n".encode())
    return digest.hexdigest()[:16]


def _seal_version(folder: Path) -> str:
    """Record the checksums of a version's files in it; returns its content digest."""
    sums = checksums(folder, DATASET_FILES)
    write_json(folder / CHECKSUMS, seal({"files": sums}))
    return content_digest(folder, sums)


def check_version(version: Path, full: bool = False) -> list[Damage]:
    """The files of a stored version that differ from what was recorded when it was made
    (none: it can be trusted). A version made before checksums is checked against the
    content digest in its name when `full`."""
    version = Path(version).resolve()
    if not is_stored_version(version):
        return []
    recorded = read_json(version / CHECKSUMS)
    if recorded is None:
        if (version / CHECKSUMS).exists():
            return [Damage(version / CHECKSUMS, "truncated, empty or not JSON")]
        named = version.name.rsplit("-", 1)[-1]
        if (full or full_checks()) and len(named) == 16 and all(c in "0123456789abcdef" for c in named) \
                and all((version / f).is_file() for f in DATASET_FILES) and content_digest(version) != named:
            return [Damage(version, "its files differ from the content digest in its name")]
        return []
    if not sealed(recorded) or not isinstance(recorded.get("files"), dict):
        return [Damage(version / CHECKSUMS, "differs from the digest it was written with (edited or damaged)")]
    files = recorded["files"]
    return Sessions(version.parent.parent).check(version.name, lambda whole: check_files(version, files, whole),
                                                 full or full_checks())


def set_aside_version(version: Path) -> Path:
    """Move a damaged version out of the store's versions (kept for inspection), once no run
    reads it; returns where it went."""
    version = Path(version).resolve()
    with dataset_lock(version, exclusive=True):
        return _set_aside_held(version)


def _set_aside_held(version: Path) -> Path:
    aside = version.parent.parent / ".damaged" / f"{version.name}-{uuid.uuid4().hex[:8]}"
    aside.parent.mkdir(parents=True, exist_ok=True)
    os.rename(version, aside)
    Sessions(version.parent.parent).forget(version.name)
    return aside


def register_reader(version: Path, reader: str, where: str) -> None:
    """Record that the runs store `reader` (its id; `where` its runs folder) read `version`."""
    version = Path(version).resolve()
    if not is_stored_version(version):
        return
    mark = version.parent.parent / "readers" / version.name / reader
    if not mark.exists():
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.write_text(where + "\n")


def readers(version: Path) -> set[str]:
    folder = Path(version).parent.parent / "readers" / Path(version).name
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


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
    finish_removals(root.parent)  # what a killed prune had set aside
    remove_stale_siblings(root / name.name)
    tmp = temporary_sibling(root / name.name)
    tmp.mkdir()
    try:
        write(tmp)
        version = root / f"{name.name}-{_seal_version(tmp)}"
        # Held shared from before the version appears until the name points at it, so a
        # concurrent `recsys runs prune` never sees it unnamed and idle in between.
        with dataset_lock(version, exclusive=False):
            try:
                os.rename(tmp, version)
            except OSError:
                if not version.is_dir():
                    raise
                damage = [] if _read_info(version) is None else check_version(version, full=True)
                if _read_info(version) is not None and not damage:
                    shutil.rmtree(tmp)  # the same bytes are stored already
                else:  # the same name, but what is stored there is damaged: set it aside
                    where = damage[0] if damage else Damage(version / "dataset.json", "truncated or not JSON")
                    warnings.warn(f"damaged: {where}; the dataset version is set aside in "
                                  f"{_set_aside_held(version)} and rebuilt", StoreWarning, stacklevel=2)
                    os.rename(tmp, version)
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


def unused_versions(seen: Iterable[Path], used: Iterable[Path], reader: str | None) -> list[Path]:
    """Stored dataset versions, in the stores holding any of the versions `seen`, that no
    name beside the store points into, that are not among `used`, and that the runs store
    `reader` alone registered reading (a version no run registered is never removed)."""
    used = {Path(p).resolve() for p in used}
    seen = {Path(p).resolve() for p in seen}
    stores = {p.parent for p in seen if is_stored_version(p)}
    unused = []
    for root in sorted(p for p in stores if p.is_dir()):
        named = _named(root)
        for version in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")):
            if version not in used and not any(is_inside(n, version) for n in named) and readers(version) == {reader}:
                unused.append(version)
    return unused


def _named(root: Path) -> set[Path]:
    """Where the links in the folder beside the store `root` (data/) point."""
    return {Path(entry.path).resolve() for entry in os.scandir(root.parent.parent) if entry.is_symlink()}


def remove_if_idle(version: Path, reader: str | None = None) -> bool:
    """Remove a stored version unless a run holds it (its shared lock), a name points into
    it, or (given `reader`) a runs store other than `reader` registered reading it: True if
    removed. It is renamed into the store's trash first (core/trash.py)."""
    class Busy(Exception):
        pass

    def give_up():
        raise Busy

    version = Path(version)
    if version.is_symlink() or not is_stored_version(version.resolve()) or version.resolve() != version.absolute():
        return False  # only a real version folder in a store is ever removed
    store = version.parent.parent
    try:
        with dataset_lock(version, exclusive=True, on_wait=lambda why: give_up()):
            if any(is_inside(n, version) for n in _named(version.parent)):
                return False  # an ingest or split named it since the plan was made
            if reader is not None and readers(version) != {reader}:
                return False
            trash = new_trash(store)
            try:
                set_aside(version, trash)
                shutil.rmtree(store / "readers" / version.name, ignore_errors=True)
            finally:
                empty(trash)
    except Busy:
        return False
    Sessions(store).forget(version.name)
    lock_path(version).unlink(missing_ok=True)
    return True
