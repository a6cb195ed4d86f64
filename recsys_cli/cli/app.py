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
from recsys_cli.cli.runs import runs_app
from recsys_cli.cli.split import split
from recsys_cli.errors import InputError

app = typer.Typer(
    name="recsys",
    help="Experiment runner for collaborative-filtering recommenders on implicit feedback.",
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
app.add_typer(runs_app, name="runs")


def _version(value: bool) -> None:
    if value:
        print(f"recsys_cli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """recsys: ingest -> split -> train -> evaluate -> tune -> compare, from the shell."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input exits 2 with one clear message, Ctrl-C exits 130."""
    from recsys_cli.cli.common import err_console

    try:
        app(args=argv, prog_name="recsys")
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except InputError as error:
        err_console.print(f"[bold red]error:[/] {error}", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
