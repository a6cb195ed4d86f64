"""`recsys compare RUN_DIR`: how differently the run's models see items and users."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.common import JsonOption, ModelsOption, QuietOption, emit_json, names_list, out_console, safe, status


def compare(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (runs/NAME/RUN-ID) or an experiment's runs/NAME.")],
    models: ModelsOption = None,
    k: Annotated[int, typer.Option(min=1, help="List depth compared.")] = 10,
    anchors: Annotated[int, typer.Option(min=1, help="Anchor items: the 5 most popular + a sample stratified by popularity.")] = 1000,
    item: Annotated[Optional[list[str]], typer.Option("--item", help="Original item id to list side by side (repeatable).")] = None,
    item_name: Annotated[Optional[list[str]], typer.Option("--item-name", help="Item name, case-insensitive (repeatable).")] = None,
    metric: Annotated[Optional[str], typer.Option(help="Metric for the significance tests (default: the run's first, at its largest K).")] = None,
    test: Annotated[str, typer.Option(help="Paired test of the metric difference: permutation (sign-flip, of the mean; default), t (paired t-test) or wilcoxon (signed ranks, not the mean).")] = "permutation",
    seed: Annotated[Optional[int], typer.Option(
        help="Seed of the anchor sample and the bootstrap (default: derived from the run's seed).")] = None,
    backend: Annotated[Optional[str], typer.Option(
        help="Where the test users' lists are ranked: local or ray (default: the run's backend and ray: block).")] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
):
    """Similar-items and recommendation agreement, similarity distributions, side-by-side
    lists and paired significance of metric differences, into RUN_DIR/compare/.

    Models: those named (--model a --model b, or --models a,b); default: every trained model.

    Example: recsys compare runs/quickstart/latest --item-name "Broken Echo #0" --k 10
    """
    from recsys_cli.serving.compare import compare_run

    from recsys_cli.core.errors import InputError
    from recsys_cli.evaluation.significance import TESTS

    if test not in TESTS:
        raise InputError(f"--test {test!r}: expected one of {', '.join(TESTS)}")
    names = names_list(models)
    with status(f"Comparing models of {run_dir}...", quiet or as_json):
        result = compare_run(run_dir, names, k=k, anchors=anchors, item_ids=item or [], item_names=item_name or [],
                             seed=seed, metric=metric, test=test, backend=backend)
        from recsys_cli.report.html.page import write_html_report

        result["report_html"] = str(write_html_report(Path(result["path"]).parent))
    if as_json:
        emit_json(result)
    elif not quiet:
        render(result)


def render(result: dict) -> None:
    from rich.table import Table

    from recsys_cli.evaluation.significance import test_label

    def pairs_table(title: str, rows: list[dict], columns: list[str]) -> Table:
        table = Table(title=title, title_justify="left")
        for column in ["model_a", "model_b", *columns]:
            table.add_column(column, justify="left" if column.startswith("model") or column == "verdict" else "right")
        for row in rows:
            table.add_row(*[f"{row[c]:.4f}" if isinstance(row[c], float) else safe(row[c])
                            for c in ["model_a", "model_b", *columns]])
        return table

    k = result["k"]
    if result.get("similar_agreement"):
        out_console.print(pairs_table(f"similar items agreement @{k} (mean over anchors)", result["similar_agreement"],
                                      ["overlap", "jaccard", "rbo"]))
    if result.get("similar_popularity"):
        table = Table(title="popularity of what each model calls similar", title_justify="left")
        for column in ("model", "anchor mean users", "similar mean users"):
            table.add_column(column, justify="right")
        for row in result["similar_popularity"]:
            table.add_row(safe(row["model"]), f"{row['anchor_mean_popularity']:.1f}", f"{row['similar_mean_popularity']:.1f}")
        out_console.print(table)
    if result.get("recommendation_agreement"):
        out_console.print(pairs_table(f"recommendation agreement @{k} (mean over test users)",
                                      result["recommendation_agreement"], ["overlap", "jaccard", "rbo"]))
    if result.get("significance"):
        out_console.print(pairs_table(
            f"paired tests on per-user {result['significance'][0]['metric']} ({test_label(result['significance'][0]['test'])}, "
            f"Holm-adjusted; simultaneous bootstrap CI of a - b at level {result['significance'][0]['ci_level']:.4f})",
            result["significance"], ["difference", "ci_low", "ci_high", "p_holm", "verdict"]))
    if result.get("side_by_side"):
        rows = result["side_by_side"]
        models = [c for c in rows[0] if c not in ("anchor", "rank")]
        for anchor in dict.fromkeys(r["anchor"] for r in rows):
            table = Table(title=f"similar to: {safe(anchor)}", title_justify="left")
            table.add_column("#", justify="right")
            for name in models:
                table.add_column(safe(name))
            for row in (r for r in rows if r["anchor"] == anchor):
                table.add_row(str(row["rank"]), *[safe(row[m]) for m in models])
            out_console.print(table)
    out_console.print(f"[green]written:[/] {safe(result['path'])}")
