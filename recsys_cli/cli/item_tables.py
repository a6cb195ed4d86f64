"""Items as rich tables (id, name, metadata, then scores), shared by `recsys recommend` and
`recsys similar`."""

from __future__ import annotations

HIDDEN = {"item_idx", "rank", "score", "weight", "events", "last_seen", "similar"}


def item_label(row: dict) -> str:
    """An item's name, or its id when the dataset has no names, as rich markup that prints
    literally (names come from data: `[/x]` or `[bold]` in a title is text, not style)."""
    from recsys_cli.cli.common import safe

    name = row.get("name")
    return safe(name if name not in (None, "") else row.get("item_id"))


def item_table(title: str, rows: list[dict], tail: list[str], ranked: bool = False):
    """Items with their id, name and every metadata column, then the `tail` columns. `title`
    is markup (escape what comes from data); every cell is escaped here."""
    from rich.table import Table

    from recsys_cli.cli.common import format_value, safe

    table = Table(title=title, title_justify="left")
    metadata = [c for c in dict.fromkeys(c for r in rows for c in r) if c not in HIDDEN and c not in tail]
    columns = (["rank"] if ranked else []) + metadata + tail
    for column in columns:
        table.add_column("#" if column == "rank" else safe(column),
                         justify="right" if column in ("rank", "score", "weight") else "left")

    def cell(column: str, value) -> str:
        if value is None:
            return ""
        return safe(value if column.endswith("_id") or column == "rank" else format_value(value))

    for row in rows:
        table.add_row(*[cell(c, row.get(c)) for c in columns])
    return table
