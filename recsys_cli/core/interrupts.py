"""Ctrl-C and SIGTERM that cannot be lost.

Python raises KeyboardInterrupt at whatever bytecode runs when SIGINT arrives. When that is
a `__del__` or weakref callback (SQLAlchemy's, inside Optuna's storage), the exception is
printed as "Exception ignored in ..." and dropped, and a long loop just goes on: a 400-trial
study ran to its end after Ctrl-C. The handlers installed here raise as usual and also
record the signal, so the places where work can stop cleanly — the start of every run
stage (runs.Run.stage) and every trial of a tuning study — ask `pending()` and stop with
the recorded interrupt; the dropped KeyboardInterrupt is then not printed either (the user
sees one "interrupted" line, not a stray traceback). SIGTERM raises `Terminated` (a
KeyboardInterrupt), so every `except KeyboardInterrupt` clean-up runs for it too.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator

from recsys_cli.core.errors import Terminated

_pending: list[KeyboardInterrupt] = []


def _on_signal(signum, frame):
    error = Terminated(f"terminated by signal {signum}") if signum == signal.SIGTERM else KeyboardInterrupt()
    _pending.append(error)
    raise error


def pending() -> KeyboardInterrupt | None:
    """The first Ctrl-C / SIGTERM received while `handled()` is active, if any."""
    return _pending[0] if _pending else None


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Install the recording handlers for SIGINT and SIGTERM while the block runs (in the
    main thread only: elsewhere signals are not delivered to Python code)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous_hook = sys.unraisablehook

    def quiet_about_interrupts(unraisable):
        if not (isinstance(unraisable.exc_value, KeyboardInterrupt) and _pending):
            previous_hook(unraisable)

    sys.unraisablehook = quiet_about_interrupts
    _pending.clear()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = previous_hook
        _pending.clear()
