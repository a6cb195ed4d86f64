"""The compare stage: the config's `compare:` block over the run's models -> compare/
(overlaps, significance, anchors' neighbours; see recsys_cli/serving/compare.py).

A stored stage like the others: its inputs are the block, the compare seed and the
fingerprints of the run's train and evaluate stages (which pin the split, the parameters and
the models), so an unchanged re-run links compare/ in from the store instead of recomputing
it, and its section of report.md is written again from the stored compare.json."""

from __future__ import annotations

from recsys_cli.stages.env import StageEnv


def compare(env: StageEnv) -> None:
    from recsys_cli.core.atomic import fingerprint, read_json
    from recsys_cli.serving.compare import append_report, compare_run

    block = env.experiment.compare
    stages = env.run.manifest["stages"]
    models = {name: stages[name].get("fingerprint") for name in sorted(stages)
              if name.startswith(("train/", "evaluate/"))}  # repeats/... stages are not compared
    key = fingerprint({"block": block.model_dump(mode="json"), "seed": env.seeds["compare"], "models": models})

    def work(record):
        compare_run(env.run.path, block.models, k=block.k, anchors=block.anchors, item_ids=block.items,
                    item_names=block.item_names, seed=env.seeds["compare"], metric=block.metric, test=block.test)
        record.update(path="compare")

    record = env.timed("compare", key, ["compare"], work)
    if record.get("reused_from"):
        append_report(env.run.path, read_json(env.run.path / "compare" / "compare.json"))
