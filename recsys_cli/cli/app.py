"""The `recsys` command: verbs are registered here; each lives in its own module."""

from __future__ import annotations

import sys

import typer

from recsys_cli import __version__
from recsys_cli.cli.compare import compare
from recsys_cli.cli.download import download
from recsys_cli.cli.experiment import evaluate, run, train, tune
from recsys_cli.cli.generate import generate
from recsys_cli.cli.info import info
from recsys_cli.cli.report import report
from recsys_cli.cli.ingest import ingest_app
from recsys_cli.cli.recommend import recommend
from recsys_cli.cli.runs import runs_app
from recsys_cli.cli.similar import similar
from recsys_cli.cli.guard import guard_commands, report_error, set_debug
from recsys_cli.core.interrupts import handled as signals_handled
from recsys_cli.cli.split import split

app = typer.Typer(
    name="recsys",
    help="Experiment runner for collaborative-filtering recommenders on implicit feedback.",
    epilog="Exit codes: 0 ok; 1 failure (or, with --no-wait, another run of the experiment holds its lock); "
    "2 bad input (config, file, option: nothing is half-written); 130 interrupted (Ctrl-C; the same command resumes); "
    "143 terminated by SIGTERM (handled like Ctrl-C).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(ingest_app, name="ingest")
app.command("download")(download)
app.command("generate")(generate)
app.command("info")(info)
app.command("split")(split)
app.command("train")(train)
app.command("evaluate")(evaluate)
app.command("run")(run)
app.command("tune")(tune)
app.command("compare")(compare)
app.command("recommend")(recommend)
app.command("similar")(similar)
app.command("report")(report)
app.add_typer(runs_app, name="runs")
guard_commands(app, ingest_app, runs_app)  # last: every verb registered above ends in one message and a code


def _version(value: bool) -> None:
    if value:
        print(f"recsys_cli {__version__}")
        raise typer.Exit()


@app.callback()
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
    try:
        with signals_handled():
            app(args=argv, prog_name="recsys")
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException as error:  # raised outside a command (while parsing): same rendering
        return report_error(error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
