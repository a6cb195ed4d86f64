"""`recsys train|evaluate|run CONFIG`: an experiment file through its stages into runs/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.common import (
    JsonOption,
    ModelsOption,
    QuietOption,
    emit_json,
    err_console,
    names_list,
    out_console,
    safe,
)

ConfigArg = Annotated[Path, typer.Argument(help="Experiment YAML file (see configs/).")]
RunsDirOption = Annotated[Path, typer.Option("--runs-dir", help="Where run folders go.")]
WaitOption = Annotated[bool, typer.Option("--wait/--no-wait", help="If another run of this experiment holds the lock: wait for it, or exit with code 1.")]
VerifyOption = Annotated[bool, typer.Option("--verify", help="Hash every reused stored file in full, large ones included (small ones always are); a damaged one is set aside and recomputed.")]


class RichReporter:
    """Stage timings and progress bars on stderr."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self._progress = None
        self._detail = None  # the task of `detail`, if one is shown

    def stage(self, name: str, seconds: float, skipped: bool) -> None:
        if not self.quiet:
            note = "[dim]up to date[/]" if skipped else f"{seconds:.2f}s"
            err_console.print(f"  [cyan]{safe(f'{name:<28}')}[/] {note}")

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
        self.end_detail()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def detail(self, description: str, done: int, total: int) -> None:
        """A second line under the running bar: a model's own progress within its fit."""
        if self._progress is None:
            return
        if self._detail is None:
            self._detail = self._progress.add_task(description, total=total)
        self._progress.update(self._detail, completed=done, total=total, description=description)

    def end_detail(self) -> None:
        if self._detail is not None and self._progress is not None:
            self._progress.remove_task(self._detail)
        self._detail = None

    def message(self, text: str) -> None:
        err_console.print(f"[yellow]{safe(text)}[/]")

    def info(self, text: str) -> None:
        if not self.quiet:
            err_console.print(f"[dim]{safe(text)}[/]")


def _execute(config: Path, runs_dir: Path, until: str, quiet: bool, as_json: bool, wait: bool,
             tune_options: dict | None = None, gates: list[str] | None = None, verify: bool = False,
             replay_key: str | None = None) -> None:
    """Run the experiment's stages up to `until`. `replay_key` (`recsys run`): the key under
    which the finished run is remembered as the answer to an unchanged re-run."""
    from recsys_cli import run as driver
    from recsys_cli.core.errors import GateFailed
    from recsys_cli.core.integrity import set_full_checks
    from recsys_cli.store.runs import RunLocked

    set_full_checks(verify)
    reporter = RichReporter(quiet or as_json)
    failed_gate = None
    try:
        if tune_options is not None:
            summary = driver.tune_experiment(config, runs_dir, wait=wait, reporter=reporter, **tune_options)
        else:
            summary = driver.run_experiment(config, runs_dir, until=until, wait=wait, reporter=reporter, gates=gates)
    except RunLocked as locked:
        err_console.print(f"[bold red]busy:[/] {safe(locked)}")
        raise typer.Exit(1) from None
    except GateFailed as error:
        if error.summary is None:  # the data checks stopped the run before training
            raise
        failed_gate, summary = error, error.summary
    finally:
        reporter.done()
    if replay_key is not None:
        _remember(replay_key, runs_dir, summary, str(failed_gate) if failed_gate is not None else None)
    _show(summary, quiet, as_json)
    if failed_gate is not None:
        raise failed_gate  # after the results: exit code 3 and one line on stderr (cli/guard.py)


def _remember(key: str, runs_dir: Path, summary: dict, gate_failure: str | None) -> None:
    from recsys_cli.store.replay import remember

    try:
        remember(key, runs_dir, summary, gate_failure)
    except OSError as error:  # the run is complete; only the next re-run's shortcut is lost
        err_console.print(f"[yellow]note:[/] could not record the run for an unchanged re-run: {safe(error)}")


def _answer_if_up_to_date(key: str, runs_dir: Path, quiet: bool, as_json: bool) -> None:
    """When the latest run is what `key` would make again (store/replay.py): print its
    results and end the command with its exit code; else return and let the run go on."""
    from recsys_cli.store.replay import up_to_date

    found = up_to_date(key, runs_dir)
    if found is None:
        return
    summary = {**found.summary, "up_to_date": True}
    if not quiet and not as_json:
        err_console.print(f"[green]up to date:[/] {safe(found.run)} was made from this experiment file, its inputs "
                          f"and this code ({found.files_checked} files checked); no new run (--force makes one)")
    _show(summary, quiet, as_json)
    if found.gate_failure is not None:
        from recsys_cli.core.errors import GateFailed

        raise GateFailed(found.gate_failure)
    raise typer.Exit(0)


def _show(summary: dict, quiet: bool, as_json: bool) -> None:
    if as_json:
        emit_json(summary)
    elif not quiet:
        _print_summary(summary)


def _print_summary(summary: dict) -> None:
    if summary["metrics"]:
        from recsys_cli.report.tables import metrics_frame, rich_tables, significance_legend

        title = summary["name"] + (", first split" if summary.get("repeats") else "")
        for table in rich_tables(metrics_frame(summary["metrics"]), summary["intervals_95"], title,
                                 summary.get("significantly_best")):
            out_console.print(table)
        out_console.print(f"[dim]{safe(significance_legend(summary.get('significantly_best'), out_console.is_terminal))}[/]")
        _print_test_users(summary)
    if summary.get("repeats"):
        from recsys_cli.report.tables import repeats_tables

        for table in repeats_tables(summary["repeats"], summary["name"]):
            out_console.print(table)
        repeats = summary["repeats"]
        test = repeats.get("test", "paired t-test")
        out_console.print(f"[dim]Bold: significantly best over the {repeats['kind']} against every other model, "
                          f"Holm-adjusted, 5%, by the test over the splits: {safe(test)}; per-split values and every "
                          "metric's paired comparisons in metrics.json, report.md.[/]")
        for row in repeats.get("tuned_vs_default") or []:
            pooled = row.get("pooled")
            per_user = (f"; per user over {pooled['users']:,}: {pooled['difference']:+.4f} "
                        f"[{pooled['ci95'][0]:+.4f}, {pooled['ci95'][1]:+.4f}]" if pooled else "")
            out_console.print(f"  [bold]{safe(row['model'])}[/] tuned - default {row['metric']} over the "
                              f"{repeats['kind']}: {row['difference']:+.4f} (defaults kept on {row['kept_defaults']} "
                              f"of {row['splits']}){per_user}: {safe(row['verdict'])}")
    if summary.get("tuning"):
        _print_tuning(summary)
    _print_baseline(summary)
    out_console.print(f"[green]{safe(summary['status'])}:[/] {safe(summary['path'])}")


def _print_baseline(summary: dict) -> None:
    """Each model's change since the baseline run, and the gate's verdict."""
    from recsys_cli.report.verdict import baseline_lines, gate_lines

    for line in baseline_lines(summary.get("baseline") or {}):
        out_console.print(safe(line))
    for line in gate_lines(summary.get("gate")):
        out_console.print(safe(line))


def _print_test_users(summary: dict) -> None:
    """How many test users the tables cover, and the cold ones' fallback metrics."""
    users = summary.get("test_users")
    if not users:
        return
    out_console.print(f"test users: {users['warm']:,} warm (the tables above), {users['cold']:,} cold (no train history)")
    if summary.get("cold_users"):
        from recsys_cli.report.tables import metrics_frame, rich_tables

        for table in rich_tables(metrics_frame({"cold: popularity (every model)": summary["cold_users"]}), {},
                                 "cold users — every model falls back to popularity"):
            out_console.print(table)


def _print_tuning(summary: dict) -> None:
    import polars as pl
    from rich.table import Table

    from recsys_cli.report.tuning import (
        chosen_label, selection_text, spread_text, stop_text, time_text, worse_on_test_warning)

    table = Table(title="tuning: searched on validation; test touched once by the tuned model, once by the default",
                  title_justify="left")
    for column in ("model", "metric", "folds", "valid\ndefault", "valid\nbest", "trained", "test\ndefault",
                   "test\ntuned", "trials", "pruned", "failed", "time", "saved\nseconds"):
        table.add_column(column, justify="left" if column in ("model", "metric", "trained") else "right")
    for name, t in summary["tuning"].items():
        fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
        best_test = fmt(t["test"]) if not t.get("worse_on_test") else f"[bold red]{fmt(t['test'])}[/]"
        trials = str(t["complete"] + t["pruned"]) + (f"/{t['target']}" if t.get("stopped_by") == "timeout" else "")
        table.add_row(safe(name), safe(t["metric"]), str(t.get("folds", 1)), fmt(t["default_validation"]), fmt(t["best_validation"]),
                      chosen_label(t), fmt(t.get("default_test")), best_test, trials, str(t["pruned"]),
                      str(t["failed"]), time_text(t), f"{t['seconds_saved_by_pruning']:.0f}")
    out_console.print(table)
    for name, t in summary["tuning"].items():
        params = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["best_params"].items())
        out_console.print(f"  [bold]{safe(name)}[/] trained: {safe(params)}")
        if selection_text(t):
            out_console.print(f"  [bold]{safe(name)}[/] {safe(selection_text(t))}")
        if stop_text(t):
            err_console.print(f"[bold yellow]warning:[/] {safe(name)}: {stop_text(t)}")
        spread = spread_text(t.get("validation_spread", {}).get("best", {}))
        if spread:
            out_console.print(f"  [bold]{safe(name)}[/] validation best: {spread}")
        warning = worse_on_test_warning(name, t)
        if warning:
            err_console.print(f"[bold yellow]warning:[/] {safe(warning)}")
    for name in summary["tuning"]:
        trials = Path(summary["path"]) / "tune" / name / "trials.parquet"
        if trials.exists():
            top = (pl.read_parquet(trials).filter(pl.col("state") == "COMPLETE").sort("value", descending=True)
                   .head(5).drop("state", "iterations_done", "duplicate_of", strict=False))
            detail = Table(title=f"{safe(name)}: top trials", title_justify="left")
            for column in top.columns:
                detail.add_column(safe(column.removeprefix("params_")), justify="right")
            for row in top.iter_rows():
                detail.add_row(*[f"{v:.4g}" if isinstance(v, float) else safe(v) for v in row])
            out_console.print(detail)


def run(config: ConfigArg, runs_dir: RunsDirOption = Path("runs"), wait: WaitOption = True,
        gate: Annotated[Optional[list[str]], typer.Option(
            "--gate", help="A condition the run must meet, added to the file's `gate:` (repeatable), e.g. "
                           "'ials.mrr@100 >= baseline - 0.005'. A failed gate exits 3.")] = None,
        quiet: QuietOption = False, as_json: JsonOption = False, verify: VerifyOption = False,
        force: Annotated[bool, typer.Option(
            "--force", help="Make a new run even when the latest run was made from this file, its inputs and this "
                            "code (its stages are still reused from the store).")] = False):
    """Ingest -> split -> train -> evaluate -> export -> report, skipping what is up to date.

    Nothing changed since the latest run (file, inputs, dataset, split, code)? That run is the answer: checked, printed, no new run (--force or --verify: the stages run, reusing the store).

    Exit codes: 0 done, 1 environment or bug, 2 bad input, 3 the gate failed, 130/143 stopped.

    Example: recsys run configs/nightly.yaml --gate 'ials.mrr@100 >= baseline - 0.005'
    """
    from recsys_cli.store.replay import run_key

    key = run_key(config, runs_dir, gate)
    if key is not None and not force and not verify:  # --verify checks every stored file the stages reuse
        _answer_if_up_to_date(key, runs_dir, quiet, as_json)
    _execute(config, runs_dir, "report", quiet, as_json, wait, gates=gate, verify=verify, replay_key=key)


def train(config: ConfigArg, runs_dir: RunsDirOption = Path("runs"), wait: WaitOption = True,
          quiet: QuietOption = False, as_json: JsonOption = False, verify: VerifyOption = False):
    """Ingest, split and train the experiment's models (saved under the run's models/).

    Example: recsys train configs/quickstart.yaml
    """
    _execute(config, runs_dir, "train", quiet, as_json, wait, verify=verify)


def evaluate(config: ConfigArg, runs_dir: RunsDirOption = Path("runs"), wait: WaitOption = True,
             quiet: QuietOption = False, as_json: JsonOption = False, verify: VerifyOption = False):
    """Train what is not trained yet and evaluate every model (metrics.csv/json, per_user/).

    Example: recsys evaluate configs/quickstart.yaml --json
    """
    _execute(config, runs_dir, "evaluate", quiet, as_json, wait, verify=verify)


def tune(
    config: ConfigArg,
    model: ModelsOption = None,
    trials: Annotated[Optional[int], typer.Option(min=1, help="Finished trials each study should reach (overrides the file).")] = None,
    timeout: Annotated[Optional[float], typer.Option(min=1, help="Seconds of search per model.")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Trials in parallel; cores are split between trials and implicit's threads.")] = 1,
    metric: Annotated[Optional[str], typer.Option(help="Metric to maximise on validation, e.g. mrr@100 (overrides the file).")] = None,
    runs_dir: RunsDirOption = Path("runs"), wait: WaitOption = True,
    quiet: QuietOption = False, as_json: JsonOption = False, verify: VerifyOption = False,
):
    """Optuna search on the validation split, then the best trained on train and tested once.

    The study is kept in runs/NAME/tune/MODEL/study.db: the same command resumes it
    (optuna-dashboard sqlite:///runs/NAME/tune/MODEL/study.db opens it).

    Models: those named (--model ials --model ease, or --models ials,ease); default: those with
    a `tune:` entry, else every model with something to tune.

    Example: recsys tune configs/quickstart.yaml --model ials --trials 30
    """
    _execute(config, runs_dir, "evaluate", quiet, as_json, wait,
             tune_options={"models": names_list(model), "trials": trials, "timeout": timeout, "jobs": jobs, "metric": metric},
             verify=verify)
