"""The artifact store: immutable folders addressed by the fingerprint of what made them.

Layout: `<runs_dir>/.store/<kind>/<key>/` holds the files of one artifact (a trained model,
an evaluation, an export, a tuning result) and `artifact.json` (kind, key, the stage's
record, when it was made). An artifact is built elsewhere, hard-linked into a hidden
temporary folder and renamed into place in one step; it is never modified afterwards.

Run folders hold hard links to the artifact files they use, not copies and not symlinks:
- a re-run of an unchanged config costs directory entries (kilobytes), not gigabytes;
- every file in a run folder is a plain file, so readers, `cp -r`, `rsync` and `scp` see a
  self-contained folder that can be copied to another machine;
- nothing is shared by reference that could change: a hard link keeps the bytes alive even
  if the store entry is pruned, so `recsys runs prune` can never break a kept run.
Hard links need one file system; the store lives inside the runs folder, so it always is.
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

from recsys_cli.core.atomic import read_json
from recsys_cli.core.locks import held

STORE_DIR = ".store"
RECORD = "artifact.json"
CHARTS_DIR = "charts"  # <store>/charts/: drawn report charts, a cache (report/html/chart_cache.py)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ArtifactStore:
    """Artifacts under `root` (usually `<runs_dir>/.store`)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def for_runs(cls, runs_dir: Path) -> "ArtifactStore":
        return cls(Path(runs_dir) / STORE_DIR)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str) -> dict | None:
        """The record of a complete artifact, or None when there is none."""
        return read_json(self.path(kind, key) / RECORD)

    def publish(self, kind: str, key: str, source: Path, files: Iterable[str], record: dict,
                origin: str | None = None) -> dict:
        """Store `files` (paths relative to `source`, files or folders) as artifact
        (kind, key) by hard-linking them; when another writer published the same key first,
        keep theirs. `origin` names the run that made it. Returns the stored record."""
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
            stored = {"kind": kind, "key": key, "created_at": _now(), "origin": origin,
                      "files": list(files), "record": record}
            (tmp / RECORD).write_text(json.dumps(stored, indent=2, default=str) + "\n")
            try:
                os.rename(tmp, target)  # fails when a concurrent writer got there first
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                return self.get(kind, key) or stored
            return stored
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def link_into(self, kind: str, key: str, destination: Path) -> dict | None:
        """Hard-link artifact (kind, key)'s files into `destination` (a run folder), each
        at its recorded relative path; None when the artifact is missing or incomplete."""
        stored = self.get(kind, key)
        if stored is None:
            return None
        folder = self.path(kind, key)
        if not all((folder / relative).exists() for relative in stored["files"]):
            return None
        for relative in stored["files"]:
            target = destination / relative
            if target.exists() or target.is_symlink():
                remove(target)
            link_tree(folder / relative, target)
        return stored

    def entries(self) -> Iterator[tuple[str, str, Path]]:
        if not self.root.is_dir():
            return
        for kind_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
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
            for kind_dir in (p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
                for tmp in kind_dir.glob(".*.tmp-*"):
                    if not _writer_alive(tmp.name):
                        found.append((kind_dir.name, tmp.name, tmp, tree_bytes(tmp)))
        return found


def _writer_alive(name: str) -> bool:
    try:
        pid = int(name.split(".tmp-")[1].split("-")[0])
        os.kill(pid, 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


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
