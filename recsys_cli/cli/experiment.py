"""`recsys train|evaluate|run CONFIG`: an experiment file through its stages into runs/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.common import JsonOption, QuietOption, emit_json, err_console, out_console

ConfigArg = Annotated[Path, typer.Argument(help="Experiment YAML file (see configs/).")]
RunsDirOption = Annotated[Path, typer.Option("--runs-dir", help="Where run folders go.")]
WaitOption = Annotated[bool, typer.Option("--wait/--no-wait", help="If another run of this experiment holds the lock: wait for it, or exit with code 1.")]


class RichReporter:
    """Stage timings and progress bars on stderr."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self._progress = None

    def stage(self, name: str, seconds: float, skipped: bool) -> None:
        if not self.quiet:
            note = "[dim]up to date[/]" if skipped else f"{seconds:.2f}s"
            err_console.print(f"  [cyan]{name:<28}[/] {note}")

    def progress(self, description: str, total: int):
        if self.quiet:
            return lambda n, description=None: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._progress = Progress("  [progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=err_console, transient=True,
                                  disable=not err_console.is_terminal)
        self._progress.start()
        task = self._progress.add_task(description, total=total)

        def advance(n: int, description: str | None = None) -> None:
            self._progress.update(task, advance=n, **({"description": description} if description else {}))

        return advance

    def done(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def message(self, text: str) -> None:
        err_console.print(f"[yellow]{text}[/]")


def _execute(config: Path, runs_dir: Path, until: str, quiet: bool, as_json: bool, wait: bool,
             tune_options: dict | None = None) -> None:
    from recsys_cli import pipeline
    from recsys_cli.runs import RunLocked

    reporter = RichReporter(quiet or as_json)
    try:
        if tune_options is not None:
            summary = pipeline.tune_experiment(config, runs_dir, wait=wait, reporter=reporter, **tune_options)
        else:
            summary = pipeline.run_experiment(config, runs_dir, until=until, wait=wait, reporter=reporter)
    except RunLocked as locked:
        err_console.print(f"[bold red]busy:[/] {locked}")
        raise typer.Exit(1) from None
    finally:
        reporter.done()
    if as_json:
        emit_json(summary)
        return
    if quiet:
        return
    if summary["metrics"]:
        from recsys_cli.report import BOLD_MEANS, metrics_frame, rich_tables

        title = summary["name"] + (", first split" if summary.get("repeats") else "")
        for table in rich_tables(metrics_frame(summary["metrics"]), summary["intervals_95"], title,
                                 summary.get("significantly_best")):
            out_console.print(table)
        out_console.print(f"[dim]{BOLD_MEANS}[/]")
    if summary.get("repeats"):
        from recsys_cli.report import repeats_tables

        for table in repeats_tables(summary["repeats"], summary["name"]):
            out_console.print(table)
        out_console.print("[dim]Bold: significantly best over the repeats (paired t-test against every other model, "
                          "Holm-adjusted, 5%); per-repeat values and every metric's paired comparisons in metrics.json, report.md.[/]")
    if summary.get("tuning"):
        _print_tuning(summary)
    out_console.print(f"[green]{summary['status']}:[/] {summary['path']}")


def _print_tuning(summary: dict) -> None:
    import polars as pl
    from rich.table import Table

    table = Table(title="tuning: searched on the validation split; test touched once, by the best",
                  title_justify="left")
    for column in ("model", "metric", "valid\ndefault", "valid\nbest", "test\nbest", "trials", "pruned", "saved\nseconds"):
        table.add_column(column, justify="left" if column in ("model", "metric") else "right")
    for name, t in summary["tuning"].items():
        fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
        table.add_row(name, t["metric"], fmt(t["default_validation"]), fmt(t["best_validation"]), fmt(t["test"]),
                      str(t["complete"] + t["pruned"]), str(t["pruned"]), f"{t['seconds_saved_by_pruning']:.0f}")
    out_console.print(table)
    for name, t in summary["tuning"].items():
        params = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["best_params"].items())
        out_console.print(f"  [bold]{name}[/] best: {params}")
    for name in summary["tuning"]:
        trials = Path(summary["path"]) / "tune" / name / "trials.parquet"
        if trials.exists():
            top = (pl.read_parquet(trials).filter(pl.col("state") == "COMPLETE").sort("value", descending=True)
                   .head(5).drop("state", "iterations_done"))
            detail = Table(title=f"{name}: top trials", title_justify="left")
            for column in top.columns:
                detail.add_column(column.removeprefix("params_"), justify="right")
            for row in top.iter_rows():
                detail.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
            out_console.print(detail)


def run(config: ConfigArg, runs_dir: RunsDirOption = Path("runs"), wait: WaitOption = True,
        quiet: QuietOption = False, as_json: JsonOption = False):
    """Ingest -> split -> train -> evaluate -> export -> report, skipping what is up to date.

    Example: recsys run configs/quickstart.yaml
    """
    _execute(config, runs_dir, "report", quiet, as_json, wait)


def train(config: ConfigArg, runs_dir: RunsDirOption = Path("runs"), wait: WaitOption = True,
          quiet: QuietOption = False, as_json: JsonOption = False):
    """Ingest, split and train the experiment's models (saved under the run's models/).

    Example: recsys train configs/quickstart.yaml
    """
    _execute(config, runs_dir, "train", quiet, as_json, wait)


def evaluate(config: ConfigArg, runs_dir: RunsDirOption = Path("runs"), wait: WaitOption = True,
             quiet: QuietOption = False, as_json: JsonOption = False):
    """Train what is not trained yet and evaluate every model (metrics.csv/json, per_user/).

    Example: recsys evaluate configs/quickstart.yaml --json
    """
    _execute(config, runs_dir, "evaluate", quiet, as_json, wait)


def tune(
    config: ConfigArg,
    model: Annotated[Optional[list[str]], typer.Option("--model", help="Model name to tune (repeatable); default: those with a `tune:` entry, else all.")] = None,
    trials: Annotated[Optional[int], typer.Option(min=1, help="Finished trials each study should reach (overrides the file).")] = None,
    timeout: Annotated[Optional[float], typer.Option(min=1, help="Seconds of search per model.")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Trials in parallel; cores are split between trials and implicit's threads.")] = 1,
    metric: Annotated[Optional[str], typer.Option(help="Metric to maximise on validation, e.g. mrr@100 (overrides the file).")] = None,
    runs_dir: RunsDirOption = Path("runs"), wait: WaitOption = True,
    quiet: QuietOption = False, as_json: JsonOption = False,
):
    """Optuna search on the validation split, then the best trained on train and tested once.

    The study is kept in runs/NAME/tune/MODEL/study.db: the same command resumes it
    (optuna-dashboard sqlite:///runs/NAME/tune/MODEL/study.db opens it).

    Example: recsys tune configs/quickstart.yaml --model ials --trials 30
    """
    _execute(config, runs_dir, "evaluate", quiet, as_json, wait,
             tune_options={"models": model, "trials": trials, "timeout": timeout, "jobs": jobs, "metric": metric})
