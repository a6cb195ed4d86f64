"""The report stage: report.md from the run's records, and report.html from the finished
folder."""

from __future__ import annotations

from recsys_cli.data.split_folder import SplitData
from recsys_cli.stages.context import RunContext


def report(ctx: RunContext, split: SplitData) -> None:
    from recsys_cli.report.breakdown import markdown
    from recsys_cli.report.tables import metrics_frame, write_report

    from recsys_cli.evaluation import repeats
    from recsys_cli.report.tuning import tuning_markdown

    extra = ctx.breakdown_extra(split)
    text = markdown(extra["test_users"], extra["cold_users"], extra["all_test_users"], ctx.breakdowns,
                    ctx.headline_metric())
    text += tuning_markdown(ctx.tuning_summary())
    if ctx.repeats:
        text += repeats.markdown(ctx.repeats, ctx.repeats["significantly_best"])
    write_report(ctx.run.path, ctx.experiment.name, metrics_frame(ctx.summaries), ctx.protocol(split),
                 ctx.run.manifest, best=ctx.best, extra=text)


def html_report(ctx: RunContext) -> None:
    """report.html from the finished folder. The page only shows what is already saved,
    so a failure to draw it is logged and reported, and never fails the run."""
    from recsys_cli.report.html.page import write_html_report

    try:
        write_html_report(ctx.run.path)
    except Exception as error:  # noqa: BLE001 - the run's results are complete either way
        ctx.run.log(f"report.html: not written: {type(error).__name__}: {error}")
        ctx.reporter.message(f"report.html not written ({type(error).__name__}: {error}); "
                             f"retry with `recsys report {ctx.run.path}`")
