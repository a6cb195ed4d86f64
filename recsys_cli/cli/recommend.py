"""`recsys recommend RUN --user ID`: a trained run's recommendations for some users."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.common import JsonOption, emit_json, out_console, safe

RunArg = Annotated[Path, typer.Argument(help="A run folder (runs/NAME/RUN-ID) or an experiment's runs/NAME (its latest).")]
ModelOption = Annotated[Optional[list[str]], typer.Option(
    "--model", "-m", help="Model to ask (repeatable; several are shown side by side). Default: every trained model.")]
DataOption = Annotated[Optional[Path], typer.Option(
    "--data", help="The dataset folder, when the run was moved and its recorded dataset path is gone.")]


def recommend(
    run_dir: RunArg,
    user: Annotated[list[str], typer.Option("--user", "-u", help="Original user id (repeatable).")],
    model: ModelOption = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Recommendations per user.")] = 10,
    history: Annotated[int, typer.Option(min=0, help="Most recent history items shown per user (0: none).")] = 10,
    data: DataOption = None,
    as_json: JsonOption = False,
):
    """The user's recent history and each model's top-k, with item names and metadata, from
    the run's saved models (nothing is retrained). Users without history in the split get
    the popularity ranking, and the output says so.

    Example: recsys recommend runs/quickstart --user 17 --user 42 -m ials -m ease -k 5
    """
    from recsys_cli.serving.queries import ServedRun

    served = ServedRun.open(run_dir, data)
    answer = served.answer_users(user, model, k, history)
    if as_json:
        emit_json({"run": str(served.path), "k": k, "users": answer})
        return
    for entry in answer:
        render_user(entry)


def render_user(entry: dict) -> None:
    from rich.table import Table

    from recsys_cli.cli.item_tables import item_label, item_table
    from recsys_cli.serving.queries import FALLBACK

    where = "" if entry["in_dataset"] else " — not in the dataset"
    out_console.print(f"[bold]user {safe(entry['user_id'])}[/]{where}: {entry['history_items']:,} items in history")
    if entry["history"]:
        extra = ["last_seen"] if any(r.get("last_seen") for r in entry["history"]) else []
        out_console.print(item_table("recent history" if extra else "history (heaviest first)", entry["history"],
                                     [*extra, "weight"]))
    fallback = [n for n, r in entry["recommendations"].items() if r["fallback"]]
    if fallback:
        why = "no history in the split" if entry["in_dataset"] else "the dataset does not know this user"
        out_console.print(f"[yellow]{why}: {safe(', '.join(fallback))} fall back to the {FALLBACK} ranking[/]")
    models = entry["recommendations"]
    if len(models) == 1:
        name, result = next(iter(models.items()))
        out_console.print(item_table(f"{safe(name)}: recommendations", result["items"], ["score"], ranked=True))
        return
    table = Table(title="recommendations, side by side", title_justify="left")
    table.add_column("#", justify="right")
    for name, result in models.items():
        table.add_column(safe(f"{name} ({FALLBACK})" if result["fallback"] else name))
    depth = max(len(r["items"]) for r in models.values())
    for rank in range(depth):
        table.add_row(str(rank + 1), *[item_label(r["items"][rank]) if rank < len(r["items"]) else ""
                                        for r in models.values()])
    out_console.print(table)

