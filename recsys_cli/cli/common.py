"""What every CLI verb shares: consoles, JSON output, small renderers. No numpy here.

Every string that comes from the user or their data (paths, ids, item names, error
messages) goes through `safe` before it reaches rich, which would otherwise read `[/x]` in
a file name as markup (and fail) or swallow `[bold]` as style."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout (for scripts and cron).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Rebuild even if the output is up to date.")]


def safe(value: Any) -> str:
    """`value` as text that rich prints literally."""
    return escape(str(value))


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def status(message: str, quiet: bool):
    """A spinner on stderr while a stage runs (nothing when quiet)."""
    import contextlib

    return contextlib.nullcontext() if quiet else err_console.status(safe(message))


def key_value_table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=safe(title), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(safe(key), safe(format_value(value)))
    return table


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return "  ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def report_stage(result, what: str, quiet: bool, as_json: bool, rows: dict[str, Any]) -> None:
    """The common ending of a stage command: JSON, a table, or nothing."""
    if as_json:
        emit_json({"path": str(result.path), "skipped": result.skipped, **result.info})
    elif not quiet:
        verb = "up to date, nothing to do" if result.skipped else "written"
        out_console.print(f"[green]{what} {verb}:[/] {safe(result.path)}")
        out_console.print(key_value_table("", rows))
