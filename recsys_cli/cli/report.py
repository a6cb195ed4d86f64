"""`recsys report RUN_DIR [--open]`: (re-)render the run's self-contained report.html."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recsys_cli.cli.common import JsonOption, QuietOption, emit_json, out_console, safe, status


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (runs/NAME/RUN-ID) or an experiment's runs/NAME (its latest run).")],
    open_: Annotated[bool, typer.Option("--open", help="Open the page in the default web browser afterwards.")] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
):
    """Write RUN_DIR/report.html from what the run folder holds: metrics with intervals,
    tuning, model comparison, examples, models and the experiment's run history. One file,
    no network: it opens offline and prints.

    Example: recsys report runs/quickstart/latest --open
    """
    from recsys_cli.report.html.page import write_html_report

    with status(f"Writing the report of {run_dir}...", quiet or as_json):
        path = write_html_report(run_dir)
    if as_json:
        emit_json({"path": str(path)})
    elif not quiet:
        out_console.print(f"[green]written:[/] {safe(path)}")
    if open_:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            out_console.print(f"no web browser found here; open {safe(path)} yourself")
