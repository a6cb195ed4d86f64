"""The tune stage: an Optuna search of one model's parameters on a split's validation part
(carved from that split's train; its test untouched) -> tune/<model>/ (best parameters,
trials, plots) and a `TuneResult`.

With repeats or folds the driver calls it once per split, on that split's own training
part, so no test pair of any split is ever seen by the search that chose its parameters."""

from __future__ import annotations

from recsys_cli.data.split_folder import SplitData
from recsys_cli.stages.env import StageEnv
from recsys_cli.stages.records import TuneResult


STUDY_STREAM = 0x57D1E5  # tags the sampler seeds of the studies of repeats/folds 1..


def study_seed(seed: int, split_index: int) -> int:
    """The sampler seed of a split's study: the experiment's for the first split, one of its
    own for each split after it (one seed for all made every fold's search propose the same
    points, so the folds' choices were one choice repeated)."""
    from recsys_cli.core.seeds import stream_seed

    return seed if split_index == 0 else stream_seed(seed, STUDY_STREAM, split_index)


def tune(env: StageEnv, entry, split: SplitData) -> TuneResult:
    from recsys_cli.core.atomic import fingerprint as fp
    from recsys_cli.tuning import study as tuning

    block = entry.tune_block()
    space = tuning.space_for(entry.type, block.space)
    filter_seen = env.filter_seen(entry)
    seed = study_seed(env.experiment.seed, env.split_index)
    study_key = fp({"split": split.info["fingerprint"], "type": entry.type, "params": entry.params,
                    "space": {k: v.model_dump() for k, v in space.items()}, "metric": block.metric,
                    "seed": seed, "pruner": block.pruner, "report_every": block.report_every,
                    "filter_seen": filter_seen, "folds": block.folds, "use_weights": entry.use_weights})
    study_name = f"{env.experiment.name}-{entry.name}-{study_key[:8]}"
    storage = env.backend.study_storage(env.runs_dir / env.experiment.name / "tune" / entry.name)
    target = env.tune_trials or block.trials
    folder = f"{env.prefix}tune/{entry.name}"

    def work(record):
        from recsys_cli.data.folds import extra_folds
        from recsys_cli.data.split_strategies import time_strategies
        from recsys_cli.report.tuning import write_outputs

        def draw(count: int) -> list[tuple]:
            return extra_folds(split.train, split.info["strategy"], split.info["params"], split.info["seed"], count)

        folds = draw(block.folds) if block.folds > 1 else []
        advance = env.reporter.progress(f"tune {entry.name}", target)
        outcome = env.backend.run_study(
            model_type=entry.type, base_params=entry.params, block=block, space=space,
            storage_path=storage, study_name=study_name, validation=split.validation(),
            filter_seen=filter_seen, seed=seed,
            threads=env.experiment.threads, jobs=env.jobs, trials=target, timeout=env.tune_timeout,
            build_options=env.build_options(entry.use_weights), extra_folds=folds,
            confirm_folds=None if split.info["strategy"] in time_strategies() else draw,
            on_trial=lambda n, best: advance(n, f"tune {entry.name} (best {block.metric} {best:.4f})"
                                             if best is not None else None),
        )
        env.reporter.done()
        best = {**entry.params, **outcome.best_params}
        files = write_outputs(env.run.path / folder, outcome, entry.name, entry.type, best, storage, study_name)
        where = (f"mean over {block.folds} seeded validation folds" if block.folds > 1
                 else "the split's validation part")
        record.update(outcome.record(), metric=block.metric, study=study_name, storage=str(storage), files=files,
                      sampler_seed=seed,
                      objective=f"{block.metric} on {where} (valid_train -> valid); test untouched",
                      unfinished=outcome.stopped_by == "timeout")  # not stored: the same command goes on with it

    key = fp([study_key, target, "keep-defaults"])  # records before the keep-defaults rule are redone
    return TuneResult(entry.name, env.timed(f"{env.prefix}tune/{entry.name}", key, [folder], work))
