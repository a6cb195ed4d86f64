"""fcntl locks on open files: released by the OS when their process dies, so a killed run
never leaves a stale lock. One mechanism for the experiment lock, the dataset lock and the
artifact store's per-artifact locks."""

from __future__ import annotations

import contextlib
import fcntl
from typing import IO, Callable, Iterator


@contextlib.contextmanager
def held(handle: IO, *, exclusive: bool = True, on_busy: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold a lock on the open file `handle`. When another process holds it, `on_busy()` runs
    first (it may say so, or raise to give up) and then the lock is waited for."""
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(handle, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        if on_busy is not None:
            on_busy()
        fcntl.flock(handle, mode)
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)


def write_holder(handle: IO, text: str) -> None:
    """Say in the lock file who holds it, for the next process to report."""
    handle.seek(0)
    handle.truncate()
    handle.write(text)
    handle.flush()
