"""The artifact store: immutable folders addressed by the fingerprint of what made them.

Layout: `<runs_dir>/.store/<kind>/<key>/` holds the files of one artifact (a trained model,
an evaluation, an export, a tuning result) and `artifact.json` (kind, key, the stage's
record, when it was made, the store's id, and each file's sha256, size and modification time,
sealed by a digest of the whole record). An artifact is built elsewhere, hard-linked into a
hidden temporary folder and renamed into place in one step; it is never modified afterwards.

Run folders hold hard links to the artifact files they use, not copies and not symlinks:
- a re-run of an unchanged config costs directory entries (kilobytes), not gigabytes;
- every file in a run folder is a plain file, so readers, `cp -r`, `rsync` and `scp` see a
  self-contained folder that can be copied to another machine;
- nothing is shared by reference that could change: a hard link keeps the bytes alive even
  if the store entry is pruned, so `recsys runs prune` can never break a kept run.
Hard links need one file system; the store lives inside the runs folder, so it always is.

Nothing is reused unchecked (core/integrity.py says how much is hashed when): an artifact whose
record or files differ from what was recorded is moved aside into `.store/.damaged/` (kept
for inspection, never reused), `link_into` returns None so the stage is recomputed, and the
reason is kept in `notes` for the run to say.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from recsys_cli.core.atomic import pid_alive, read_json
from recsys_cli.core.integrity import Damage, Sessions, check_files, checksums, full_checks, seal, sealed
from recsys_cli.core.locks import held
from recsys_cli.store.identity import STORE_DIR, StoreIdentity

RECORD = "artifact.json"
CHARTS_DIR = "charts"  # <store>/charts/: drawn report charts, a cache (report/html/chart_cache.py)
DAMAGED_DIR = ".damaged"  # <store>/.damaged/: artifacts found damaged, kept for inspection
FORMAT = 2  # 2: checksums, store id and digest in artifact.json


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ArtifactStore:
    """Artifacts under `root` (usually `<runs_dir>/.store`). `verify`: hash every reused
    file, large ones included (`recsys run --verify`); None follows the process setting."""

    def __init__(self, root: Path, verify: bool | None = None):
        self.root = Path(root)
        self._verify = verify
        self.notes: list[str] = []  # what was found damaged and set aside, for the run to say
        self._identity: StoreIdentity | None = None
        self._sessions = Sessions(self.root)

    @classmethod
    def for_runs(cls, runs_dir: Path, verify: bool | None = None) -> "ArtifactStore":
        return cls(Path(runs_dir) / STORE_DIR, verify=verify)

    @property
    def verify(self) -> bool:
        return full_checks() if self._verify is None else self._verify

    @property
    def identity(self) -> StoreIdentity:
        if self._identity is None:
            self._identity = StoreIdentity.open(self.root.parent, create=True)
        return self._identity

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def take_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes

    # -- reading ------------------------------------------------------------------------------
    def get(self, kind: str, key: str) -> dict | None:
        """The record of a complete artifact, or None when there is none; an artifact whose
        record is unreadable, edited or another store's is set aside (and None returned)."""
        folder = self.path(kind, key)
        if not folder.exists():
            return None
        stored = read_json(folder / RECORD)
        problem = self.record_problem(stored, kind, key)
        if problem is not None:
            self._set_aside(kind, key, [Damage(folder / RECORD, problem)])
            return None
        return stored

    def record_problem(self, stored: dict | None, kind: str, key: str) -> str | None:
        """Why `stored` (an artifact.json) cannot be trusted, or None."""
        if stored is None:
            return "artifact.json is missing, truncated or not JSON"
        if stored.get("kind") != kind or stored.get("key") != key or not isinstance(stored.get("files"), list):
            return "artifact.json describes another artifact"
        if "digest" in stored or not self.identity.legacy:
            if not sealed(stored):
                return "artifact.json differs from the digest it was stored with (edited or damaged)"
            if stored.get("store") not in self.identity.lineage:
                return f"made by another store ({stored.get('store')})"
        return None

    def check(self, kind: str, key: str, stored: dict, full: bool = False) -> list[Damage]:
        """The damaged files of a stored artifact (none: it can be trusted)."""
        folder = self.path(kind, key)
        recorded = stored.get("checksums")
        if recorded is None:  # made before checksums: only its files' presence can be checked
            return [Damage(folder / r, "missing") for r in stored["files"] if not (folder / r).exists()]
        return self._sessions.check(f"{kind}-{key}", lambda whole: check_files(folder, recorded, whole)
                                    + _unrecorded(folder, stored["files"], recorded), full or self.verify)

    def link_into(self, kind: str, key: str, destination: Path, full: bool = False) -> dict | None:
        """Hard-link artifact (kind, key)'s files into `destination` (a run folder), each
        at its recorded relative path, after checking them; None when the artifact is
        missing, or damaged (then it is set aside and `notes` says why)."""
        stored = self.get(kind, key)
        if stored is None:
            return None
        damage = self.check(kind, key, stored, full)
        if damage:
            self._set_aside(kind, key, damage)
            return None
        folder = self.path(kind, key)
        for relative in stored["files"]:
            target = destination / relative
            if target.exists() or target.is_symlink():
                remove(target)
            link_tree(folder / relative, target)
        return stored

    def intact_in(self, kind: str, key: str, destination: Path) -> bool:
        """Whether the files of artifact (kind, key) that a run folder already holds (a stage
        it finished before it was resumed) are still what was stored. When they are not,
        the run's copies are removed (and a damaged artifact set aside) so the stage is
        linked again or recomputed."""
        before = len(self.notes)
        stored = self.get(kind, key)
        if stored is None or stored.get("checksums") is None:
            return len(self.notes) == before  # nothing to compare with, unless it was just set aside
        name = f"{kind}-{key}"
        full = self.verify or not self._sessions.checked_in(name, self._sessions.join())
        damage = check_files(destination, stored["checksums"], full)
        if not damage:
            return True
        for relative in stored["files"]:
            with contextlib.suppress(FileNotFoundError):
                remove(Path(destination) / relative)
        entry_damage = self.check(kind, key, stored, full=True)
        if entry_damage:
            self._set_aside(kind, key, entry_damage)
        else:
            self.notes.append(f"damaged: {damage[0]}; relinked from the store")
        return False

    def damaged_in(self, destination: Path, artifact: str) -> list[Damage] | None:
        """The files of a stored artifact ("kind/key") that a run folder holds and that differ
        from what was stored (read-only: for the readers of a finished run); None when the
        artifact is not in this store, or its record is unusable: nothing to compare with."""
        kind, _, key = artifact.partition("/")
        stored = read_json(self.path(kind, key) / RECORD)
        if stored is None or self.record_problem(stored, kind, key) is not None or not stored.get("checksums"):
            return None
        name = f"{kind}-{key}"
        full = self.verify or not self._sessions.checked_in(name, self._sessions.epoch())
        return check_files(Path(destination), stored["checksums"], full)

    def _set_aside(self, kind: str, key: str, damage: list[Damage]) -> None:
        folder = self.path(kind, key)
        aside = self.root / DAMAGED_DIR / f"{kind}-{key}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):  # another process set it aside first
            os.rename(folder, aside)
        self._sessions.forget(f"{kind}-{key}")
        first = damage[0]
        more = f" (and {len(damage) - 1} more file(s))" if len(damage) > 1 else ""
        self.notes.append(f"damaged: {first.path}: {first.reason}{more}; the stored {kind} is set aside in {aside} "
                          "and recomputed")

    # -- writing ------------------------------------------------------------------------------
    def publish(self, kind: str, key: str, source: Path, files: Iterable[str], record: dict,
                origin: str | None = None) -> dict:
        """Store `files` (paths relative to `source`, files or folders) as artifact
        (kind, key) by hard-linking them, recording each file's checksum; when another
        writer published the same key first, keep theirs. `origin` names the run that made
        it. Returns the stored record."""
        target = self.path(kind, key)
        existing = self.get(kind, key)
        if existing is not None:
            return existing
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()
        try:
            files = list(files)
            for relative in files:
                link_tree(source / relative, tmp / relative)
            stored = seal({"kind": kind, "key": key, "created_at": _now(), "origin": origin, "files": files,
                           "record": record, "store": self.identity.id, "format": FORMAT,
                           "checksums": checksums(tmp, files)})
            (tmp / RECORD).write_text(json.dumps(stored, indent=2, default=str) + "\n")
            try:
                os.rename(tmp, target)  # fails when a concurrent writer got there first
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                return self.get(kind, key) or stored
            self._sessions.mark_checked(f"{kind}-{key}", self._sessions.join())
            return stored
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    # -- what is there ------------------------------------------------------------------------------
    def entries(self) -> Iterator[tuple[str, str, Path]]:
        if not self.root.is_dir():
            return
        for kind_dir in sorted(p for p in self.root.iterdir() if _is_kind_dir(p)):
            for entry in sorted(p for p in kind_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                yield kind_dir.name, entry.name, entry

    def unreferenced(self) -> list[tuple[str, str, Path, int]]:
        """Artifacts no run folder links to (every file's link count is 1): (kind, key,
        path, bytes). Stale temporary folders of dead writers are included."""
        found = []
        for kind, key, path in self.entries():
            files = [f for f in path.rglob("*") if f.is_file() and f.name != RECORD]
            if all(f.stat().st_nlink <= 1 for f in files):
                found.append((kind, key, path, sum(f.stat().st_size for f in files)))
        if self.root.is_dir():
            for kind_dir in (p for p in self.root.iterdir() if _is_kind_dir(p)):
                for tmp in kind_dir.glob(".*.tmp-*"):
                    if not _writer_alive(tmp.name):
                        found.append((kind_dir.name, tmp.name, tmp, tree_bytes(tmp)))
        return found


def _is_kind_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not path.name.startswith(".") and path.name != CHARTS_DIR


def _unrecorded(folder: Path, files: list[str], recorded: dict) -> list[Damage]:
    """Files inside a stored folder that its record does not list (added afterwards)."""
    extra = []
    for relative in files:
        path = folder / relative
        if path.is_dir():
            extra += [Damage(f, "not part of the stored artifact") for f in sorted(path.rglob("*"))
                      if not f.is_dir() and f.relative_to(folder).as_posix() not in recorded]
    return extra


def _writer_alive(name: str) -> bool:
    """Whether the writer of a temporary folder `.<key>.tmp-<pid>-...` still runs."""
    pid_text = name.split(".tmp-")[1].split("-")[0] if ".tmp-" in name else ""
    return pid_text.isdigit() and pid_alive(int(pid_text))


def link_tree(source: Path, target: Path) -> None:
    """Hard-link a file, or every file of a folder, from `source` to `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, copy_function=os.link)
    else:
        os.link(source, target)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def tree_bytes(path: Path) -> int:
    """Bytes of the files under `path`, each inode counted once."""
    seen, total = set(), 0
    for f in [path] if path.is_file() else path.rglob("*"):
        if f.is_file() and not f.is_symlink():
            info = f.stat()
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


@contextlib.contextmanager
def artifact_lock(store: ArtifactStore, kind: str, key: str) -> Iterator[None]:
    """Serialise producers of one artifact, so concurrent runs build it once."""
    locks = store.root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{kind}-{key}.lock", "a+") as handle, held(handle):
        yield
