"""The `recsys` command: verbs are registered here; each lives in its own module.

The query verbs (`recommend`, `similar`) answer in well under a second, and an unchanged
re-run of `recsys run` in about the start-up time (store/replay.py), so their command lines
build an app holding that verb alone: none of the other verbs' modules is imported and Typer
builds one command instead of all of them (~35 ms of a ~0.5 s answer, ~140 ms of a re-run).
`app`, the whole command with every verb, is built on first use.
"""

from __future__ import annotations

import functools
import importlib
import sys

import typer

from recsys_cli import __version__
from recsys_cli.cli.guard import guard_commands, report_error, set_debug
from recsys_cli.core.interrupts import handled as signals_handled
from recsys_cli.core.memory import return_freed_memory

# Verbs whose command line builds an app holding that verb alone: the queries, and `run`,
# whose unchanged re-run is answered in about the CLI's start-up time (store/replay.py).
ALONE_VERBS = {"recommend": "recsys_cli.cli.recommend", "similar": "recsys_cli.cli.similar",
               "run": "recsys_cli.cli.experiment"}


def _new_app() -> typer.Typer:
    application = typer.Typer(
        name="recsys",
        help="Experiment runner for collaborative-filtering recommenders on implicit feedback.",
        epilog="Exit codes: 0 ok; 1 failure (or, with --no-wait, another run of the experiment holds its lock); "
        "2 bad input (config, file, option: nothing is half-written); 3 the run's gate failed; 130 interrupted (Ctrl-C; the same command resumes); "
        "143 terminated by SIGTERM (handled like Ctrl-C).",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    application.callback()(root)
    return application


@functools.cache
def full_app() -> typer.Typer:
    """The `recsys` command with every verb."""
    from recsys_cli.cli.compare import compare
    from recsys_cli.cli.download import download
    from recsys_cli.cli.experiment import evaluate, run, train, tune
    from recsys_cli.cli.generate import generate
    from recsys_cli.cli.info import info
    from recsys_cli.cli.ingest import ingest_app
    from recsys_cli.cli.recommend import recommend
    from recsys_cli.cli.report import report
    from recsys_cli.cli.runs import runs_app
    from recsys_cli.cli.similar import similar
    from recsys_cli.cli.split import split

    application = _new_app()
    application.add_typer(ingest_app, name="ingest")
    application.command("download")(download)
    application.command("generate")(generate)
    application.command("info")(info)
    application.command("split")(split)
    application.command("train")(train)
    application.command("evaluate")(evaluate)
    application.command("run")(run)
    application.command("tune")(tune)
    application.command("compare")(compare)
    application.command("recommend")(recommend)
    application.command("similar")(similar)
    application.command("report")(report)
    application.add_typer(runs_app, name="runs")
    guard_commands(application, ingest_app, runs_app)  # last: every verb registered above ends in one message and a code
    return application


def verb_app(verb: str) -> typer.Typer:
    """The `recsys` command holding the verb `verb` alone (see the module docstring)."""
    application = _new_app()
    application.command(verb)(getattr(importlib.import_module(ALONE_VERBS[verb]), verb))
    guard_commands(application)
    return application


def __getattr__(name: str):
    if name == "app":
        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _version(value: bool) -> None:
    if value:
        print(f"recsys_cli {__version__}")
        raise typer.Exit()


def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    verbose: bool = typer.Option(False, "--verbose", help="Show the logs of libraries (Ray's workers...)."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error (for bug reports)."),
) -> None:
    """recsys: ingest -> split -> train -> evaluate -> tune -> compare, from the shell."""
    set_debug(debug)
    if verbose:
        import os

        os.environ["RECSYS_VERBOSE"] = "1"


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input exits 2 with one clear message, Ctrl-C 130, SIGTERM 143
    (see cli/guard.py)."""
    set_debug(False)
    return_freed_memory()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        command = verb_app(args[0]) if args and args[0] in ALONE_VERBS else full_app()
        with signals_handled():
            command(args=args, prog_name="recsys")
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException as error:  # raised outside a command (while parsing): same rendering
        return report_error(error)
    return 0


def entry() -> int:
    """The `recsys` program (console script, `python -m recsys_cli`): `main`, then everything
    it made is moved out of the cyclic collector's reach (gc.freeze), so the interpreter's exit
    does not walk all those objects once more: 80-100 ms of a 0.5 s query. They are still
    freed by reference counting at exit, files closed and atexit handlers run; only garbage
    cycles left at exit are not collected (the process is ending)."""
    import gc

    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(entry())
