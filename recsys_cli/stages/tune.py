"""The tune stage: an Optuna search of one model's parameters on the split's validation part
(test untouched) -> tune/<model>/ (best parameters, trials, plots) and the tune record."""

from __future__ import annotations

from recsys_cli.data.split_folder import SplitData
from recsys_cli.stages.context import RunContext


def tune(ctx: RunContext, entry, split: SplitData) -> None:
    from recsys_cli.tuning import study as tuning
    from recsys_cli.core.atomic import fingerprint as fp

    block = entry.tune_block()
    space = tuning.space_for(entry.type, block.space)
    study_key = fp({"split": split.info["fingerprint"], "type": entry.type, "params": entry.params,
                    "space": {k: v.model_dump() for k, v in space.items()}, "metric": block.metric,
                    "seed": ctx.experiment.seed, "pruner": block.pruner, "report_every": block.report_every,
                    "filter_seen": ctx.filter_seen(entry), "folds": block.folds, "use_weights": entry.use_weights})
    study_name = f"{ctx.experiment.name}-{entry.name}-{study_key[:8]}"
    storage = ctx.backend.study_storage(ctx.runs_dir / ctx.experiment.name / "tune" / entry.name)
    target = ctx.tune_trials or block.trials
    folder = f"tune/{entry.name}"

    def work(record):
        from recsys_cli.data.folds import extra_folds

        folds = extra_folds(split.train, split.info["strategy"], split.info["params"], split.info["seed"],
                            block.folds) if block.folds > 1 else []
        advance = ctx.reporter.progress(f"tune {entry.name}", target)
        outcome = ctx.backend.run_study(
            model_type=entry.type, base_params=entry.params, block=block, space=space,
            storage_path=storage, study_name=study_name, validation=split.validation(),
            filter_seen=ctx.filter_seen(entry), seed=ctx.experiment.seed,
            threads=ctx.experiment.threads, jobs=ctx.jobs, trials=target, timeout=ctx.tune_timeout,
            build_options=ctx.build_options(entry), extra_folds=folds,
            on_trial=lambda n, best: advance(n, f"tune {entry.name} (best {block.metric} {best:.4f})"
                                             if best is not None else None),
        )
        ctx.reporter.done()
        best = {**entry.params, **outcome.best_params}
        from recsys_cli.report.tuning import write_outputs

        files = write_outputs(ctx.run.path / folder, outcome, entry.name, entry.type, best, storage, study_name)
        where = (f"mean over {block.folds} seeded validation folds" if block.folds > 1
                 else "the split's validation part")
        record.update(outcome.record(), metric=block.metric, study=study_name, storage=str(storage), files=files,
                      objective=f"{block.metric} on {where} (valid_train -> valid); test untouched")

    record = ctx.timed(f"tune/{entry.name}", fp([study_key, target]), [folder], work)
    ctx.tuned[entry.name] = record
