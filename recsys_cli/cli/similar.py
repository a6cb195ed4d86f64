"""`recsys similar RUN --item ID | --item-name TEXT`: a trained run's similar items."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from recsys_cli.cli.common import JsonOption, emit_json, out_console, safe
from recsys_cli.cli.item_tables import item_label, item_table
from recsys_cli.cli.recommend import DataOption, ModelOption, RunArg


def similar(
    run_dir: RunArg,
    item: Annotated[Optional[list[str]], typer.Option("--item", "-i", help="Original item id (repeatable).")] = None,
    item_name: Annotated[Optional[list[str]], typer.Option(
        "--item-name", "-n", help="Item name, case-insensitive: an exact title, else a unique part of one (repeatable).")] = None,
    model: ModelOption = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Similar items per item.")] = 10,
    data: DataOption = None,
    as_json: JsonOption = False,
):
    """Items most similar to the given ones, per model (side by side), with names and
    metadata, from the run's saved models. Models without item similarity are listed.

    Example: recsys similar runs/quickstart --item-name "Broken Echo #0" -m i2i -m ials
    """
    from recsys_cli.serving.anchors import resolve_anchor_items
    from recsys_cli.core.errors import InputError
    from recsys_cli.serving.queries import ServedRun

    if not item and not item_name:
        raise InputError("give at least one --item ID or --item-name TEXT")
    served = ServedRun.open(run_dir, data)
    anchors = resolve_anchor_items(served.dataset.items, item or [], item_name or [])
    answer = served.answer_items(anchors, model, k)
    if not any(a["similar"] for a in answer["items"]):
        raise InputError(f"none of the models {', '.join(answer['models_without_similarity'])} has item similarity; "
                         "pick one that has (item-knn, als, ials, bpr, ease, ...)")
    if as_json:
        emit_json({"run": str(served.path), "k": k, **answer})
        return
    from rich.table import Table

    if answer["models_without_similarity"]:
        out_console.print(f"[dim]no item similarity in: {safe(', '.join(answer['models_without_similarity']))}[/]")
    for anchor in answer["items"]:
        title = f"similar to {item_label(anchor)} (item {safe(anchor['item_id'])})"
        lists = anchor["similar"]
        if len(lists) == 1:
            name, rows = next(iter(lists.items()))
            out_console.print(item_table(f"{title} — {safe(name)}", rows, ["score"], ranked=True))
            continue
        table = Table(title=title, title_justify="left")
        table.add_column("#", justify="right")
        for name in lists:
            table.add_column(safe(name))
        for rank in range(max(len(rows) for rows in lists.values())):
            table.add_row(str(rank + 1), *[item_label(rows[rank]) if rank < len(rows) else "" for rows in lists.values()])
        out_console.print(table)
