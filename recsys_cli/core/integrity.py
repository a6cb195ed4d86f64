"""Checksums of stored files, and when a reader re-hashes them before trusting the bytes.

Every object a store publishes (an artifact's files, a dataset version's files) records each
file's sha256, size and modification time at publish (`checksums`), and its record carries a
digest of itself (`seal`), so an edited record is noticed too. A reader (`check_files`) checks:

- the size of every file, always (one stat);
- the sha256 of every file up to LARGE_FILE_BYTES, always: the quickstart's 27 MB of models
  hash in about 25 ms, about 1% of its 3-second unchanged re-run (docs/store.md);
- the sha256 of a larger file when its modification time changed, when the caller asks for a
  full check (`recsys run --verify`, `recsys runs verify`), and on the object's first reuse
  after an unclean stop of a process that used the store (`Sessions`): a file renamed into
  place just before a power loss or a kill may hold zeros.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from recsys_cli.core.atomic import file_sha256, pid_alive, write_text

LARGE_FILE_BYTES = 64 << 20


class StoreWarning(UserWarning):
    """A damaged stored object was set aside deep inside a write (a dataset version rebuilt
    over a damaged one); the command that started the write says so."""


@dataclass(frozen=True)
class Damage:
    """A file that is not what its store recorded."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def file_checksum(path: Path) -> dict:
    info = os.stat(path)
    return {"sha256": file_sha256(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def checksums(folder: Path, relatives: Iterable[str]) -> dict[str, dict]:
    """relative path -> checksum of every file under `folder` named by `relatives` (files, or
    folders whose files are all taken)."""
    out = {}
    for relative in relatives:
        path = Path(folder) / relative
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            out[file.relative_to(folder).as_posix()] = file_checksum(file)
    return out


def _digest(payload: dict) -> str:
    body = {k: v for k, v in payload.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def seal(payload: dict) -> dict:
    """`payload` with a `digest` of everything else in it."""
    return {**payload, "digest": _digest(payload)}


def sealed(payload: dict) -> bool:
    """Whether `payload` still matches the digest it was sealed with."""
    return isinstance(payload.get("digest"), str) and payload["digest"] == _digest(payload)


def check_files(folder: Path, recorded: dict[str, dict], full: bool) -> list[Damage]:
    """The files of `recorded` (relative path -> checksum) under `folder` that are missing or
    differ; large files are hashed only when `full` or their modification time changed."""
    damage = []
    for relative, expected in recorded.items():
        path = Path(folder) / relative
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            damage.append(Damage(path, "missing"))
            continue
        if not stat.S_ISREG(info.st_mode):
            damage.append(Damage(path, "not a regular file"))
        elif info.st_size != expected.get("size"):
            damage.append(Damage(path, f"{info.st_size:,} bytes where {expected.get('size', 0):,} were stored"))
        elif (full or info.st_size <= LARGE_FILE_BYTES or info.st_mtime_ns != expected.get("mtime_ns")) \
                and file_sha256(path) != expected.get("sha256"):
            damage.append(Damage(path, "content differs from the sha256 recorded when it was stored"))
    return damage


# -- unclean stops ------------------------------------------------------------------------------
_joined: dict[str, Path] = {}  # store root -> this process's session file


def start_time(pid: int) -> str:
    """The process's start time (clock ticks since boot) from /proc, or "0" where unknown:
    with the pid it names one process, even after the pid is reused."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def process_alive(name: str) -> bool:
    """Whether the process a name `<pid>-<start>[-...]` was made by still runs."""
    pid_text, _, rest = name.partition("-")
    started = rest.split("-")[0]
    if not pid_text.isdigit() or not pid_alive(int(pid_text)):
        return False
    return started in ("", "0") or start_time(int(pid_text)) in ("0", started)


def _leave() -> None:
    for path in _joined.values():
        if path.name.startswith(f"{os.getpid()}-"):
            path.unlink(missing_ok=True)


class Sessions:
    """Which processes use a store, to tell when one stopped uncleanly.

    A process using the store keeps `<root>/.sessions/<pid>-<start>` while it runs and removes
    it at exit (normal ends, errors, Ctrl-C and SIGTERM all exit through Python). A file left
    by a process that is gone marks an unclean stop (SIGKILL, an out-of-memory kill, a power
    loss): the next process starts a new epoch, and each object's large files are hashed on
    its first reuse in the new epoch (`<root>/.verified/<name>` holds the epoch of the
    object's last full check)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.folder = self.root / ".sessions"

    def join(self) -> str | None:
        """Register this process (once); returns the epoch, None where the store cannot be
        written (then every check is a full one)."""
        key = str(self.root.absolute())
        try:
            if key not in _joined:
                self.folder.mkdir(parents=True, exist_ok=True)
                stale = [p for p in self.folder.iterdir() if p.name != "epoch" and not process_alive(p.name)]
                if stale:
                    write_text(self.folder / "epoch", uuid.uuid4().hex)
                    for path in stale:
                        path.unlink(missing_ok=True)
                mine = self.folder / f"{os.getpid()}-{start_time(os.getpid())}"
                mine.touch()
                if not _joined:
                    atexit.register(_leave)
                _joined[key] = mine
            return self.epoch()
        except OSError:
            return None

    def epoch(self) -> str:
        try:
            return (self.folder / "epoch").read_text().strip() or "0"
        except OSError:
            return "0"

    def _stamp(self, name: str) -> Path:
        return self.root / ".verified" / name

    def checked_in(self, name: str, epoch: str | None) -> bool:
        """Whether object `name` had a full check in `epoch`."""
        if epoch is None:
            return False
        try:
            return self._stamp(name).read_text().strip() == epoch
        except OSError:
            return False

    def mark_checked(self, name: str, epoch: str | None) -> None:
        if epoch is None:
            return
        try:
            write_text(self._stamp(name), epoch)
        except OSError:
            pass

    def check(self, name: str, check: Callable[[bool], list], full: bool = False) -> list:
        """What `check(full)` finds wrong with object `name` (nothing: it can be trusted), where
        `full` is also true on the object's first check in this epoch (first use, or after an
        unclean stop); a clean full check is remembered for the rest of the epoch."""
        epoch = self.join()
        full = full or not self.checked_in(name, epoch)
        damage = check(full)
        if not damage and full:
            self.mark_checked(name, epoch)
        return damage

    def forget(self, name: str) -> None:
        self._stamp(name).unlink(missing_ok=True)


_full_checks = {"on": False}


def set_full_checks(on: bool) -> None:
    """Hash every reused file, large ones included, for the rest of the process (`--verify`)."""
    _full_checks["on"] = on


def full_checks() -> bool:
    return _full_checks["on"]
