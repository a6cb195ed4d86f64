"""`recsys runs list|show|diff|prune|history`: the run folders of experiments over time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from recsys_cli.cli.common import JsonOption, emit_json, key_value_table, out_console

runs_app = typer.Typer(help="Run folders over time: list, show, diff, prune, metric history.\n\nExample: recsys runs list quickstart", no_args_is_help=True)

RunsDirOption = Annotated[Path, typer.Option("--runs-dir", help="The runs folder.")]
MetricOption = Annotated[str, typer.Option("--metric", help="Headline metric, e.g. mrr@100.")]


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


@runs_app.command("list")
def list_runs(
    name: Annotated[Optional[str], typer.Argument(help="Experiment name (default: every experiment).")] = None,
    metric: MetricOption = "mrr@100",
    runs_dir: RunsDirOption = Path("runs"),
    as_json: JsonOption = False,
):
    """Runs with date, status, the best model on the headline metric and size on disk.

    "own" is what only that run folder holds; the rest is shared with other runs through the
    artifact store (hard links). Example: recsys runs list quickstart
    """
    from rich.table import Table

    from recsys_cli.store.history import experiment_runs

    records = experiment_runs(runs_dir, name)
    rows = []
    for record in records:
        best = record.headline(metric)
        own, total = record.bytes()
        rows.append({"experiment": record.experiment, "run_id": record.run_id, "started_at": record.started_at,
                     "status": record.status, "best_model": best[0] if best else None,
                     metric: best[1] if best else None, "own_bytes": own, "bytes": total, "path": str(record.path)})
    if as_json:
        emit_json(rows)
        return
    table = Table(title=f"runs in {escape(str(runs_dir))}", title_justify="left")
    for column in ("experiment", "run", "started (UTC)", "status", f"best {metric}", "model", "own", "total"):
        table.add_column(column, justify="right" if column in ("own", "total", f"best {metric}") else "left")
    for row in rows:
        value = row[metric]
        table.add_row(escape(row["experiment"]), row["run_id"], row["started_at"].replace("T", " ").rstrip("Z"),
                      row["status"], "—" if value is None else f"{value:.4f}", escape(row["best_model"] or "—"),
                      _size(row["own_bytes"]), _size(row["bytes"]))
    out_console.print(table)


@runs_app.command("show")
def show(
    run: Annotated[str, typer.Argument(help="Run folder, NAME/RUN_ID, or NAME (its latest run).")],
    runs_dir: RunsDirOption = Path("runs"),
    as_json: JsonOption = False,
):
    """A run's status, stages (and which were reused) and metrics.

    Example: recsys runs show quickstart
    """
    from recsys_cli.store.history import resolve_run

    record = resolve_run(runs_dir, run)
    if as_json:
        emit_json({"path": str(record.path), "manifest": record.manifest, "metrics": record.metrics})
        return
    manifest = record.manifest
    out_console.print(key_value_table(escape(f"{record.experiment} / {record.run_id}"), {
        "status": record.status, "started": manifest.get("started_at"), "finished": manifest.get("finished_at", "—"),
        "seed": manifest.get("seed"), "path": escape(str(record.path))}))
    from rich.table import Table

    stages = Table(title="stages", title_justify="left")
    for column in ("stage", "status", "seconds", "reused from"):
        stages.add_column(column)
    for stage, entry in manifest.get("stages", {}).items():
        stages.add_row(escape(stage), str(entry.get("status")), str(entry.get("seconds", "")),
                       escape(entry.get("reused_from") or ""))
    out_console.print(stages)
    if record.metrics:
        from recsys_cli.report.tables import metrics_frame, rich_tables

        for table in rich_tables(metrics_frame(record.metrics), {}, escape(record.experiment)):
            out_console.print(table)


@runs_app.command("diff")
def diff(
    run_a: Annotated[str, typer.Argument(help="First run (folder, NAME/RUN_ID or NAME).")],
    run_b: Annotated[str, typer.Argument(help="Second run.")],
    runs_dir: RunsDirOption = Path("runs"),
    as_json: JsonOption = False,
):
    """Config keys and metrics that differ between two runs (deltas are B - A).

    Example: recsys runs diff quickstart/20261201-101500 quickstart
    """
    from rich.table import Table

    from recsys_cli.store.history import diff_runs, resolve_run

    result = diff_runs(resolve_run(runs_dir, run_a), resolve_run(runs_dir, run_b))
    if as_json:
        emit_json(result)
        return
    if not result["config"] and not result["metrics"]:
        out_console.print("the two runs have the same config and metrics")
        return
    if result["config"]:
        table = Table(title="config", title_justify="left")
        for column in ("key", "A", "B"):
            table.add_column(column)
        for key, (a, b) in result["config"].items():
            table.add_row(escape(key), escape(str(a)), escape(str(b)))
        out_console.print(table)
    if result["metrics"]:
        table = Table(title="metrics", title_justify="left")
        for column in ("model", "metric", "A", "B", "B - A"):
            table.add_column(column, justify="left" if column in ("model", "metric") else "right")
        fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
        for model, metrics in result["metrics"].items():
            for metric, values in metrics.items():
                delta = values["delta"]
                table.add_row(escape(model), metric, fmt(values["a"]), fmt(values["b"]),
                              "—" if delta is None else f"{delta:+.4f}")
        out_console.print(table)


@runs_app.command("prune")
def prune(
    name: Annotated[Optional[str], typer.Argument(help="Experiment name (default: every experiment).")] = None,
    keep: Annotated[Optional[int], typer.Option("--keep", min=0, help="Keep the last N runs of each experiment.")] = None,
    newer_than: Annotated[Optional[str], typer.Option("--newer-than", help="Keep runs started on or after this date (2026-11-30).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed and how many bytes.")] = False,
    runs_dir: RunsDirOption = Path("runs"),
    as_json: JsonOption = False,
):
    """Remove old run folders, the stored artifacts no kept run uses, and the stored dataset
    versions (beside the datasets the runs read) that no kept run reads and no dataset name
    points at. The latest and running runs are always kept; a kept run never loses a file.

    Example: recsys runs prune quickstart --keep 5 --dry-run
    """
    from recsys_cli.store.history import apply_prune, plan_prune

    plan = plan_prune(runs_dir, name, keep, newer_than)
    if not dry_run:
        apply_prune(plan)
    if as_json:
        emit_json({**plan.as_dict(), "dry_run": dry_run})
        return
    verb = "would remove" if dry_run else "removed"
    out_console.print(f"{verb} {len(plan.runs)} run folder(s), {len(plan.artifacts)} stored artifact(s) and "
                      f"{len(plan.datasets)} dataset version(s), {_size(plan.bytes_freed)} freed")
    for path in [record.path for record in plan.runs] + plan.datasets:
        out_console.print(f"  {escape(str(path))}")


@runs_app.command("history")
def history_command(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    metric: MetricOption = "mrr@100",
    plot: Annotated[Optional[Path], typer.Option("--plot", help="PNG to write (default: RUNS_DIR/NAME/history.png).")] = None,
    runs_dir: RunsDirOption = Path("runs"),
    as_json: JsonOption = False,
):
    """The metric across the experiment's complete runs, per model, as a table and a PNG:
    what someone retraining from cron looks at to notice drift.

    Example: recsys runs history nightly --metric mrr@100
    """
    from rich.table import Table

    from recsys_cli.core.errors import InputError
    from recsys_cli.store.history import experiment_runs, history, plot_history

    rows = history(experiment_runs(runs_dir, name), metric)
    if not rows:
        raise InputError(f"no complete run of {name!r} has {metric!r}", path=runs_dir / name)
    target = plot_history(rows, metric, name, plot or runs_dir / name / "history.png")
    if as_json:
        emit_json({"metric": metric, "runs": rows, "plot": str(target)})
        return
    models = list(dict.fromkeys(model for row in rows for model in row["values"]))
    table = Table(title=f"{escape(name)}: {metric} per run", title_justify="left")
    table.add_column("run")
    table.add_column("started (UTC)")
    for model in models:
        table.add_column(escape(model), justify="right")
    for row in rows:
        table.add_row(row["run_id"], row["started_at"].replace("T", " ").rstrip("Z"),
                      *[f"{row['values'][m]:.4f}" if m in row["values"] else "—" for m in models])
    out_console.print(table)
    out_console.print(f"plot: {escape(str(target))}")


@runs_app.command("track")
def track_command(
    run: Annotated[str, typer.Argument(help="Run folder, NAME/RUN_ID, or NAME (its latest run).")],
    tracking_uri: Annotated[Optional[str], typer.Option("--tracking-uri", help="MLflow tracking URI (default: the run config's tracking.mlflow).")] = None,
    experiment: Annotated[Optional[str], typer.Option("--experiment", help="MLflow experiment (default: the config's tracking.experiment, else its name).")] = None,
    runs_dir: RunsDirOption = Path("runs"),
    as_json: JsonOption = False,
):
    """Log a complete run to MLflow, e.g. one whose tracker was down.

    A run already tracked (same config, data, results, verdict) is not logged twice.

    Exit code 1 when the tracker cannot be reached. Example: recsys runs track nightly
    """
    from recsys_cli.cli.common import err_console, safe
    from recsys_cli.stages.track import TrackingFailed, track_saved
    from recsys_cli.store.history import resolve_run

    record = resolve_run(runs_dir, run)
    try:
        outcome = track_saved(record.path, tracking_uri, experiment)
    except TrackingFailed as failure:
        err_console.print(f"[bold red]not tracked:[/] {safe(failure)}", soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        emit_json({"path": str(record.path), "status": outcome.status, "uri": outcome.uri,
                   "experiment": outcome.experiment, "mlflow_run_id": outcome.mlflow_run_id, "key": outcome.key})
        return
    out_console.print(f"{outcome.status}: {escape(record.experiment)}/{record.run_id} as MLflow run "
                      f"{outcome.mlflow_run_id} in experiment {escape(outcome.experiment)!r} at {escape(outcome.uri)}")
