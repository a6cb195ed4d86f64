"""The report stage: metrics.{csv,json} and report.md from the run's records, and
report.html from the finished folder (reading the split the run already holds)."""

from __future__ import annotations

from recsys_cli.stages.env import StageEnv
from recsys_cli.stages.records import RunResults


def write_metrics(env: StageEnv, results: RunResults) -> None:
    from recsys_cli.report.tables import metrics_frame, write_metrics as write_files

    write_files(env.run.path, metrics_frame(results.summaries), results.intervals, results.protocol(env.experiment),
                extra={**results.warm_and_cold(), **({"baseline": dict(results.baseline)} if results.baseline else {}),
                       **({"gate": dict(results.gate)} if results.gate else {})},
                tuning=results.tuning_summary(), best=dict(results.best), repeats=dict(results.repeats))


def report(env: StageEnv, results: RunResults) -> None:
    from recsys_cli.evaluation import repeats
    from recsys_cli.report.breakdown import markdown
    from recsys_cli.report.tables import metrics_frame, write_report
    from recsys_cli.report.tuning import tuning_markdown
    from recsys_cli.report.verdict import markdown as opening

    extra = results.warm_and_cold()
    text = markdown(extra["test_users"], extra["cold_users"], extra["all_test_users"], results.breakdowns,
                    env.headline_metric())
    text += tuning_markdown(results.tuning_summary())
    if results.repeats:
        text += repeats.markdown(results.repeats, results.repeats["significantly_best"])
    metric = env.headline_metric()
    write_report(env.run.path, env.experiment.name, metrics_frame(results.summaries), results.protocol(env.experiment),
                 env.run.manifest, best=dict(results.best), extra=text,
                 opening=opening(results.gate, dict(results.baseline), results.best_model(metric), metric))


def html_report(env: StageEnv, split=None) -> None:
    """report.html from the finished folder, reading the run's `split` from memory instead
    of its files. The page only shows what is already saved, so a failure to draw it is
    logged and reported, and never fails the run."""
    from recsys_cli.report.html.page import write_html_report

    try:
        write_html_report(env.run.path, split=split)
    except Exception as error:  # noqa: BLE001 - the run's results are complete either way
        env.run.log(f"report.html: not written: {type(error).__name__}: {error}")
        env.reporter.message(f"report.html not written ({type(error).__name__}: {error}); "
                             f"retry with `recsys report {env.run.path}`")
