"""What every CLI verb shares: consoles, JSON output, small renderers. No numpy here.

Every string that comes from the user or their data (paths, ids, item names, error
messages) goes through `safe` before it reaches rich, which would otherwise read `[/x]` in
a file name as markup (and fail) or swallow `[bold]` as style."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

UNBOUNDED_WIDTH = 10_000  # "as wide as the content": tables are not expanded, only never cut


class StreamConsole(Console):
    """A rich Console that, when its stream is not a terminal (a pipe, a file, a cron log),
    prints tables at their full width and messages unwrapped, instead of cutting both at 80
    columns. On a terminal it behaves as rich does. Decided at each print, so a console made
    at import time follows whatever stream it writes to then (pytest's capture included)."""

    @property
    def size(self):
        from rich.console import ConsoleDimensions

        if self.is_terminal or self._width is not None:
            return super().size
        return ConsoleDimensions(UNBOUNDED_WIDTH, super().size.height)

    @size.setter
    def size(self, new_size):
        Console.size.fset(self, new_size)

    @property
    def soft_wrap(self) -> bool:
        return self._soft_wrap or not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        self._soft_wrap = value


def make_console(stderr: bool = False) -> Console:
    """No highlighting and no `:name:` emoji codes: what the tool prints about data (item
    names, ids, paths) is shown as it is."""
    return StreamConsole(stderr=stderr, highlight=False, emoji=False)


out_console = make_console()
err_console = make_console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout (for scripts and cron).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Rebuild even if the output is up to date.")]


ModelsOption = Annotated[Optional[list[str]], typer.Option(
    "--model", "--models", metavar="NAME[,NAME...]",
    help="Model name; repeat the option or give a comma-separated list (--model a --model b = --models a,b).")]


def names_list(values: list[str] | None) -> list[str] | None:
    """Names from a repeatable option whose values may also be comma-separated lists: the one
    list style of every verb (`--model a --model b`, `--models a,b`, or both)."""
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return list(dict.fromkeys(names)) or None
def safe(value: Any) -> str:
    """`value` as text that rich prints literally."""
    return escape(str(value))


def emit_json(payload: Any) -> None:
    from recsys_cli.core.atomic import json_value

    sys.stdout.write(json.dumps(payload, indent=2, default=json_value) + "\n")


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
        named = {"link": str(result.name)} if result.name is not None else {}
        emit_json({"path": str(result.path), **named, "skipped": result.skipped, **result.info})
    elif not quiet:
        verb = "up to date, nothing to do" if result.skipped else "written"
        where = safe(result.path) if result.name is None else f"{safe(result.name)} -> {safe(result.path)}"
        out_console.print(f"[green]{what} {verb}:[/] {where}")
        out_console.print(key_value_table("", rows))
