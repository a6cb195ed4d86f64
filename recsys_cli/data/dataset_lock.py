"""A shared/exclusive lock on a dataset folder (a stored version, or a legacy folder).

Readers (a split, a run computing on the dataset) hold the lock shared for as long as they
use the folder. Stored versions are never replaced (data/dataset_store.py), so the exclusive
side is taken only by what removes or moves a folder: `recsys runs prune` (which leaves a
version in use alone) and the one-time move of a legacy dataset folder into the store. The
lock is an fcntl lock on the sibling file `.NAME.lock`; the OS releases it when its process
dies.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator

from recsys_cli.core.locks import held, write_holder


def lock_path(dataset_dir: str | Path) -> Path:
    dataset_dir = Path(dataset_dir)
    return dataset_dir.parent / f".{dataset_dir.name}.lock"


@contextlib.contextmanager
def dataset_lock(dataset_dir: str | Path, *, exclusive: bool,
                 on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the dataset folder's lock. A reader whose folder cannot hold a lock file (a
    read-only location, where no ingest can replace it either) proceeds without one."""
    path = lock_path(dataset_dir)
    try:
        if exclusive:
            path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
    except OSError:
        if exclusive:
            raise
        yield
        return
    message = "runs are reading it" if exclusive else "another process is moving or pruning it"
    busy = (lambda: on_wait(message)) if on_wait is not None else None
    with handle, held(handle, exclusive=exclusive, on_busy=busy):
        if exclusive:
            write_holder(handle, f"ingest by pid {os.getpid()}\n")
        yield
