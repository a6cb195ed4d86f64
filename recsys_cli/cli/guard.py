"""How every verb ends: one message and an exit code, never a traceback (unless --debug).

    0    done
    1    failure of the environment or the tool: no space, no permission, a busy lock, no
         network (`EnvironmentFailure`), a bug
    2    bad input (`InputError`): the message names the file, the place and what was expected;
         a damaged or unreadable file recsys wrote (`DamagedFile`) names the run, the model,
         the path and what to do
    3    the run's gate failed (`GateFailed`): a data check stopped it before training, or a
         model missed a metric condition; one line on stderr says which ("gate failed: ...")
    130  interrupted by Ctrl-C (SIGINT)
    143  terminated by SIGTERM (cron, systemd, CI); handled exactly like Ctrl-C: the run is
         marked `interrupted`, temporary files are removed

Commands are wrapped here rather than left to click, which turns Ctrl-C and `EOFError`
into a bare "Aborted!" with exit code 1.
"""

from __future__ import annotations

import functools
import traceback

import typer

from recsys_cli.core.errors import EnvironmentFailure, GateFailed, InputError, Terminated

EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 2, 3, 130, 143
_debug = {"on": False}


def set_debug(on: bool) -> None:
    _debug["on"] = on


def exit_code_for(error: BaseException) -> tuple[int, str]:
    """The exit code and the one-line (or, for InputError, as written) message of an error."""
    if isinstance(error, InputError):
        return EXIT_BAD_INPUT, f"error: {error}"
    if isinstance(error, GateFailed):
        return EXIT_GATE_FAILED, f"gate failed: {error}"
    if isinstance(error, EnvironmentFailure):
        return EXIT_FAILURE, f"error: {error}"
    if isinstance(error, Terminated):
        return EXIT_TERMINATED, "terminated (SIGTERM): finished stages and trials are kept; the same command resumes"
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted: finished stages and trials are kept; the same command resumes"
    if isinstance(error, MemoryError):
        return EXIT_FAILURE, "error: out of memory"
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        cause = error.strerror or str(error) or type(error).__name__
        return EXIT_FAILURE, f"error: {cause}{where}"
    text = str(error).strip().splitlines()
    return EXIT_FAILURE, (f"internal error: {type(error).__name__}: {text[0] if text else ''} "
                          "(run with --debug for the traceback)")


def report_error(error: BaseException) -> int:
    from recsys_cli.cli.common import err_console, safe

    code, message = exit_code_for(error)
    if _debug["on"] and code not in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        traceback.print_exception(error)
    style = "yellow" if code in (EXIT_INTERRUPTED, EXIT_TERMINATED) else "bold red"
    head, _, rest = message.partition(": ") if code != EXIT_INTERRUPTED and ": " in message else (message, "", "")
    err_console.print(f"[{style}]{safe(head)}{':' if rest else ''}[/] {safe(rest)}".rstrip(), soft_wrap=True)
    return code


def guarded(command):
    """Wrap a Typer command so that its errors end as `report_error` says."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except BaseException as error:  # noqa: BLE001 - every error becomes a message and a code
            raise typer.Exit(report_error(error)) from None

    return run


def guard_commands(*typers: typer.Typer) -> None:
    for app in typers:
        for info in app.registered_commands:
            info.callback = guarded(info.callback)
