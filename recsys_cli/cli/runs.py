"""`recsys runs list|show|diff|prune|history|verify|pin|track`: the run folders of experiments over time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from recsys_cli.cli.common import JsonOption, emit_json, key_value_table, out_console

runs_app = typer.Typer(help="Run folders over time: list, show, diff, prune, metric history, verify, pin, track.\n\nExample: recsys runs list quickstart", no_args_is_help=True)

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
    """Runs with date, status, the gate's verdict, every model's headline metric and size on disk.

    "own" is what only that run folder holds; the rest is shared with other runs through the
    artifact store (hard links). `latest`, `passed` and `pinned` mark the runs those links
    point to. Example: recsys runs list quickstart
    """
    from rich.table import Table

    from recsys_cli.store.history import experiment_runs

    records = experiment_runs(runs_dir, name)
    rows = []
    for record in records:
        best = record.headline(metric)
        own, total = record.bytes()
        models = {m: v[metric] for m, v in record.metrics.items() if v.get(metric) is not None}
        rows.append({"experiment": record.experiment, "run_id": record.run_id, "started_at": record.started_at,
                     "status": record.status, "gate": record.gate, "links": record.links,
                     "best_model": best[0] if best else None, metric: best[1] if best else None,
                     "models": models, "own_bytes": own, "bytes": total, "path": str(record.path)})
    if as_json:
        emit_json(rows)
        return
    table = Table(title=f"runs in {escape(str(runs_dir))}", title_justify="left")
    for column in ("experiment", "run", "started (UTC)", "status", "gate", metric, "own", "total"):
        table.add_column(column, justify="right" if column in ("own", "total") else "left")
    for row in rows:
        ranked = sorted(row["models"].items(), key=lambda kv: -kv[1])
        scores = "\n".join(f"{escape(m)} {v:.4f}" for m, v in ranked) or "—"
        run = escape(row["run_id"]) + "".join(f"\n[dim]{link}[/]" for link in row["links"])
        table.add_row(escape(str(row["experiment"])), run,
                      escape(str(row["started_at"]).replace("T", " ").rstrip("Z")), escape(str(row["status"])),
                      {"passed": "[green]passed[/]", "failed": "[bold red]failed[/]"}.get(row["gate"], "—"),
                      scores, _size(row["own_bytes"]), _size(row["bytes"]))
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
    out_console.print(key_value_table(f"{record.experiment} / {record.run_id}", {
        "status": record.status, "started": manifest.get("started_at"), "finished": manifest.get("finished_at", "—"),
        "seed": manifest.get("seed"), "path": str(record.path)}))
    from rich.table import Table

    stages = Table(title="stages", title_justify="left")
    for column in ("stage", "status", "seconds", "reused from"):
        stages.add_column(column)
    for stage, entry in manifest.get("stages", {}).items():
        entry = entry if isinstance(entry, dict) else {}
        stages.add_row(escape(str(stage)), escape(str(entry.get("status"))), escape(str(entry.get("seconds", ""))),
                       escape(str(entry.get("reused_from") or "")))
    out_console.print(stages)
    if record.metrics:
        from recsys_cli.report.tables import metrics_frame, rich_tables

        for table in rich_tables(metrics_frame(record.metrics), {}, str(record.experiment)):
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
                table.add_row(escape(str(model)), escape(str(metric)), fmt(values["a"]), fmt(values["b"]),
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
    versions (beside the datasets the runs read) that no kept run reads, no dataset name
    points at and no other runs folder registered reading. The latest and running runs are
    always kept; a kept run never loses a file. Only what this store made is removed: a
    folder it did not make, a link, or a runs folder given through a link makes prune refuse
    (exit 2) before removing anything.

    Example: recsys runs prune quickstart --keep 5 --dry-run
    """
    from recsys_cli.store.prune import apply_prune, plan_prune

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
    if plan.busy:
        out_console.print(f"left {len(plan.busy)} run folder(s): a run of their experiment is in progress")


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
    from recsys_cli.store.history import check_plot_target, experiment_runs, history, plot_history

    records = experiment_runs(runs_dir, name)  # checks the name: never a path out of the runs folder
    if plot is not None:
        check_plot_target(plot)  # the user's path: never over what recsys did not draw
    else:  # in the experiment folder; a linked one is only read, so its plot goes beside the link
        plot = runs_dir / (f"{name}-history.png" if (runs_dir / name).is_symlink() else f"{name}/history.png")
    rows = history(records, metric)
    if not rows:
        raise InputError(f"no complete run of {name!r} has {metric!r}", path=runs_dir / name)
    target = plot_history(rows, metric, name, plot)
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
        table.add_row(escape(row["run_id"]), escape(str(row["started_at"]).replace("T", " ").rstrip("Z")),
                      *[f"{row['values'][m]:.4f}" if m in row["values"] else "—" for m in models])
    out_console.print(table)
    out_console.print(f"plot: {escape(str(target))}")


@runs_app.command("verify")
def verify_command(
    run: Annotated[Optional[str], typer.Argument(help="Run folder, NAME/RUN_ID, or NAME (its latest run).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every run, every stored artifact and every dataset version.")] = False,
    runs_dir: RunsDirOption = Path("runs"),
    as_json: JsonOption = False,
):
    """Check every byte of a run (or, with --all, of the whole store and the dataset versions
    the runs read) against the sha256 recorded when it was stored, like `git fsck`. Prints
    each damaged path; exit 2 when anything is damaged. Nothing is changed: the next run sets
    a damaged object aside and recomputes it.

    Example: recsys runs verify --all
    """
    from recsys_cli.core.errors import InputError
    from recsys_cli.store.verify import run_record, verify

    if (run is None) == (not all_):
        raise InputError("give a run (folder, NAME/RUN_ID or NAME) or --all")
    result = verify(runs_dir, run_record(runs_dir, run) if run is not None else None)
    if as_json:
        emit_json(result.as_dict())
    else:
        for damage in result.damage:
            out_console.print(f"[bold red]damaged:[/] {escape(str(damage.path))}: {escape(damage.reason)}", soft_wrap=True)
        verdict = f"{len(result.damage)} damaged file(s)" if result.damage else "everything is intact"
        out_console.print(f"checked {len(result.checked)} object(s): {verdict}")
    if result.damage:
        raise typer.Exit(2)


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


@runs_app.command("pin")
def pin_command(
    run: Annotated[str, typer.Argument(help="Run folder or NAME/RUN_ID to compare every later run of its experiment with.")],
    clear: Annotated[bool, typer.Option("--clear", help="Remove the pin: the gate compares with the last run that passed again.")] = False,
    runs_dir: RunsDirOption = Path("runs"),
):
    """Pin a run as its experiment's baseline: the gate compares tonight with it instead of
    the last run that passed, until `recsys runs pin NAME --clear`.

    Example: recsys runs pin nightly-music/20261201-020000
    """
    from recsys_cli.core.errors import InputError
    from recsys_cli.store.baseline import PINNED, point, unpoint
    from recsys_cli.store.history import resolve_run

    if clear:
        given = Path(runs_dir) / run  # NAME, NAME/RUN_ID, or a run folder's path
        experiment = (given if given.is_dir() and not (given / "manifest.json").is_file()
                      else resolve_run(runs_dir, run).path.parent)
        removed = unpoint(experiment, PINNED)
        out_console.print(f"{'unpinned' if removed else 'no pin in'} {escape(experiment.name)}")
        return
    record = resolve_run(runs_dir, run)
    if record.status != "complete":
        raise InputError(f"is {record.status}, not complete: only a finished run can be a baseline", path=record.path)
    point(record.path.parent, PINNED, record.path)
    out_console.print(f"pinned: {escape(record.experiment)}/{escape(record.run_id)} is the baseline of its experiment's gate")
