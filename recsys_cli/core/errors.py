"""Errors that the CLI turns into exit codes.

`InputError` is bad input from the user (a malformed file, a wrong column, a typo in a
config): the CLI prints its message and exits with code 2. Its message must say where the
problem is (file, row or column, key) and what was expected.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input: exit code 2, message shown as is."""

    def __init__(self, message: str, *, path: str | Path | None = None):
        self.path = str(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class GateFailed(Exception):
    """The run's gate (data checks or metric conditions) failed: its own exit code (3), and
    one line a cron mail can carry. `summary` is the run's summary when the run finished
    (metric conditions), None when the data checks stopped it before training."""

    def __init__(self, message: str, summary: dict | None = None):
        self.summary = summary
        super().__init__(message)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: handled like Ctrl-C, exit code 143."""
