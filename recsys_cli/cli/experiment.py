"""`recsys train|evaluate|run CONFIG`: an experiment file through its stages into runs/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._progress = Progress("  [progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=err_console, transient=True,
                                  disable=not err_console.is_terminal)
        self._progress.start()
        task = self._progress.add_task(description, total=total)
        return lambda n: self._progress.update(task, advance=n)

    def done(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def message(self, text: str) -> None:
        err_console.print(f"[yellow]{text}[/]")


def _execute(config: Path, runs_dir: Path, until: str, quiet: bool, as_json: bool, wait: bool) -> None:
    from recsys_cli import pipeline
    from recsys_cli.runs import RunLocked

    reporter = RichReporter(quiet or as_json)
    try:
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
        from recsys_cli.report import metrics_frame, rich_tables

        for table in rich_tables(metrics_frame(summary["metrics"]), summary["intervals_95"], summary["name"]):
            out_console.print(table)
    out_console.print(f"[green]{summary['status']}:[/] {summary['path']}")


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
