"""Removing folders so that a killed process never leaves half of one where it was.

A folder to remove is first renamed into the store's trash, `<store>/.trash/<pid>-<start>-<id>/`
(one rename: readers see the whole folder or nothing), then deleted there. A process killed
half way leaves whole folders in its trash and nothing half-deleted in place; the next
command that opens the store deletes what the dead process had set aside (`finish_removals`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from recsys_cli.core.integrity import process_alive, start_time

TRASH_DIR = ".trash"


def new_trash(store_root: Path) -> Path:
    folder = Path(store_root) / TRASH_DIR / f"{os.getpid()}-{start_time(os.getpid())}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    return folder


def set_aside(path: Path, trash: Path) -> Path:
    """Rename `path` (a real folder, never a link) into `trash`; returns where it went."""
    target = trash / f"{len(list(trash.iterdir()))}-{Path(path).name}"
    os.rename(path, target)
    if target.is_symlink():  # swapped for a link since it was checked: put it back, delete nothing
        os.rename(target, path)
        raise OSError(f"{path} became a symbolic link while being removed; left alone")
    return target


def empty(trash: Path) -> None:
    shutil.rmtree(trash, ignore_errors=True)


def finish_removals(store_root: Path) -> list[Path]:
    """Delete what processes that are gone had set aside in the store's trash."""
    folder = Path(store_root) / TRASH_DIR
    try:
        leftovers = [p for p in folder.iterdir() if not process_alive(p.name)]
    except OSError:
        return []
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers
