"""Errors that the CLI turns into exit codes.

`InputError` is bad input from the user (a malformed file, a wrong column, a typo in a
config): the CLI prints its message and exits with code 2. Its message must say where the
problem is (file, row or column, key) and what was expected.

`DamagedFile` is an `InputError` about a file recsys itself wrote (a saved model, a manifest,
a stored record) that is unreadable or differs from what was recorded: exit 2, naming the
file, whose it is (run, model) and what to do.

`EnvironmentFailure` is the machine's fault, not the input's (no network, a server down):
exit 1, message shown as is.
"""

from __future__ import annotations

from pathlib import Path

VERIFY_ADVICE = "check the store with `recsys runs verify --all`; a re-run of the experiment recomputes what is damaged"


class InputError(Exception):
    """Bad input: exit code 2, message shown as is."""

    def __init__(self, message: str, *, path: str | Path | None = None):
        self.path = str(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class DamagedFile(InputError):
    """A file recsys wrote is unreadable or not what was recorded: exit 2."""

    def __init__(self, path: str | Path, what: str, cause: str, advice: str = VERIFY_ADVICE):
        self.what, self.cause = what, cause
        super().__init__(f"{what} is damaged or unreadable ({cause}); {advice}", path=path)


class EnvironmentFailure(Exception):
    """The environment failed (no network, a server error): exit code 1, message shown as is."""

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


def one_line(error: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
