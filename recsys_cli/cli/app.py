"""The `recsys` command: verbs are registered here; each lives in its own module."""

from __future__ import annotations

import sys

import typer

from recsys_cli import __version__
from recsys_cli.cli.compare import compare
from recsys_cli.cli.download import download
from recsys_cli.cli.experiment import evaluate, run, train, tune
from recsys_cli.cli.info import info
from recsys_cli.cli.ingest import ingest_app
from recsys_cli.cli.recommend import recommend
from recsys_cli.cli.similar import similar
from recsys_cli.cli.split import split
from recsys_cli.errors import InputError

app = typer.Typer(
    name="recsys",
    help="Experiment runner for collaborative-filtering recommenders on implicit feedback.",
    epilog="Exit codes: 0 ok; 1 failure (or, with --no-wait, another run of the experiment holds its lock); "
    "2 bad input (config, file, option: nothing is half-written); 130 interrupted (Ctrl-C; the same command resumes).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(ingest_app, name="ingest")
app.command("download")(download)
app.command("info")(info)
app.command("split")(split)
app.command("train")(train)
app.command("evaluate")(evaluate)
app.command("run")(run)
app.command("tune")(tune)
app.command("compare")(compare)
app.command("recommend")(recommend)
app.command("similar")(similar)


def _version(value: bool) -> None:
    if value:
        print(f"recsys_cli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    verbose: bool = typer.Option(False, "--verbose", help="Show the logs of libraries (Ray's workers...)."),
) -> None:
    """recsys: ingest -> split -> train -> evaluate -> tune -> compare, from the shell."""
    if verbose:
        import os

        os.environ["RECSYS_VERBOSE"] = "1"


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input exits 2 with one clear message, Ctrl-C exits 130."""
    from recsys_cli.cli.common import err_console

    try:
        app(args=argv, prog_name="recsys")
    except SystemExit as exit_:
        code = exit_.code
        if code == INTERRUPTED:  # typer turns Ctrl-C into a silent exit 130
            _say_interrupted()
        return code if isinstance(code, int) else (0 if code is None else 1)
    except InputError as error:
        err_console.print(f"[bold red]error:[/] {error}", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        _say_interrupted()
        return INTERRUPTED
    return 0


INTERRUPTED = 130


def _say_interrupted() -> None:
    from recsys_cli.cli.common import err_console

    err_console.print("[yellow]interrupted[/]: finished stages and trials are kept; the same command resumes")


if __name__ == "__main__":
    sys.exit(main())
