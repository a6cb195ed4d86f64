"""The compare stage: the config's `compare:` block over the run's models -> compare/
(overlaps, significance, anchors' neighbours; see recsys_cli/compare.py)."""

from __future__ import annotations

from recsys_cli.stages.context import RunContext


def compare(ctx: RunContext) -> None:
    from recsys_cli.compare import compare_run

    block = ctx.experiment.compare

    def work(record):
        result = compare_run(ctx.run.path, block.models, k=block.k, anchors=block.anchors, item_ids=block.items,
                             item_names=block.item_names, seed=ctx.seeds["compare"], metric=block.metric,
                             test=block.test)
        record.update(path=result["path"])

    ctx.always("compare", work)
