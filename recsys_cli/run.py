"""The run driver: an experiment file through its stages into a run folder.

`ExperimentRun` opens (or resumes) the run folder under the experiment's lock and walks the
stages in order — ingest -> split -> tune -> train -> evaluate -> export -> report -> compare —
each a function in recsys_cli/stages/ over the shared `RunContext`. Whether a stage's artifact
already exists (in this run or any other, through the store) is decided by the context's
bookkeeping, so the driver itself is only the sequence, the locks and the status.
"""

from __future__ import annotations

from pathlib import Path

from recsys_cli.data.split_folder import SplitData
from recsys_cli.core.errors import InputError
from recsys_cli.stages import evaluate, export, report, train, tune
from recsys_cli.stages.compare import compare
from recsys_cli.stages.context import Reporter, RunContext
from recsys_cli.stages.ingest import dataset_for_run
from recsys_cli.stages.split import split_for_run
from recsys_cli.store.artifacts import ArtifactStore


class ExperimentRun:
    """One execution of an experiment file into its run folder."""

    def __init__(self, experiment, runs_dir: Path, reporter: Reporter | None = None, jobs: int = 1,
                 tune_trials: int | None = None, tune_timeout: float | None = None):
        from recsys_cli.core.atomic import fingerprint as fp
        from recsys_cli.config.load import with_absolute_paths

        self.experiment = experiment = with_absolute_paths(experiment)
        runs_dir = Path(runs_dir).absolute()
        config = experiment.model_dump(mode="json")
        self.config_fingerprint = fp(config)
        self.ctx = RunContext(experiment=experiment, runs_dir=runs_dir, reporter=reporter or Reporter(), jobs=jobs,
                              tune_trials=tune_trials, tune_timeout=tune_timeout, config=config,
                              seeds=experiment.seeds(), store=ArtifactStore.for_runs(runs_dir))

    # -- the chain --------------------------------------------------------------------------
    def execute(self, until: str = "report", wait: bool = True) -> dict:
        from recsys_cli.store.runs import Run, experiment_lock

        ctx = self.ctx
        folder = ctx.runs_dir / self.experiment.name
        waiting = lambda holder: ctx.reporter.message(  # noqa: E731
            f"waiting for another run of {self.experiment.name!r} to finish ({holder})...")
        with experiment_lock(folder, wait=wait, on_wait=waiting):
            ctx.run = Run.open_or_resume(ctx.runs_dir, self.experiment.name, self.config_fingerprint,
                                         self.experiment.seed, self.experiment.threads)
            self._write_config()
            try:
                from recsys_cli.backends import open_backend

                with open_backend(self.experiment) as ctx.backend:
                    ctx.run.manifest["backend"] = ctx.backend.describe()
                    return self._chain(until)
            except BaseException as error:
                status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
                if not ctx.run.has_finished_stage():
                    ctx.run.discard()  # a config that fails before any stage leaves no folder
                    raise
                ctx.run.manifest["status"] = status
                ctx.run.save()
                ctx.run.log(f"{status}: {type(error).__name__}: {error}")
                raise

    def _write_config(self) -> None:
        import yaml

        from recsys_cli.core.atomic import write_text

        write_text(self.ctx.run.path / "config.yaml",
                   yaml.safe_dump(self.ctx.config, sort_keys=False, allow_unicode=True))

    def _chain(self, until: str) -> dict:
        from recsys_cli.data.dataset_lock import dataset_lock

        dataset_dir = dataset_for_run(self.ctx)
        # Held shared to the end: `recsys runs prune` leaves a version in use alone.
        with dataset_lock(dataset_dir, exclusive=False, on_wait=self.ctx.dataset_wait(dataset_dir)):
            return self._chain_on(dataset_dir, until)

    def _chain_on(self, dataset_dir: Path, until: str) -> dict:
        from recsys_cli.data.dataset import Dataset

        ctx, models_config = self.ctx, self.experiment.models
        ctx.dataset = Dataset.open(dataset_dir)  # items/users tables are read once, on first use
        ctx.weight_kind = ctx.dataset.info.get("weight_kind", "implicit")
        split = split_for_run(ctx, dataset_dir)
        ctx.run.manifest["seeds"] = ctx.seeds
        ctx.run.save()
        for entry in models_config:
            if entry.tune_block() is not None:
                tune.tune(ctx, entry, split)
        advance = ctx.reporter.progress("training", len(models_config))
        models = {}
        for entry in models_config:
            models[entry.name] = train.train(ctx, entry, split)
            advance(1, f"training (done: {entry.name})")
        ctx.reporter.done()
        if until != "train":
            for entry in models_config:
                evaluate.evaluate(ctx, entry, models[entry.name], split)
                if entry.name in ctx.tuned:
                    evaluate.evaluate_default(ctx, entry, split)
            evaluate.evaluate_cold(ctx, split)
            if self.experiment.split.count > 1:
                self._other_repeats(dataset_dir, split)
            evaluate.write_metrics(ctx, split)
            if until == "evaluate" and ctx.tuned:  # a tune-only run folder gets its report too
                report.report(ctx, split)
        if until == "report":
            export.export(ctx, models, split)
            report.report(ctx, split)
            if self.experiment.compare is not None:
                compare(ctx)
            ctx.run.complete()
        else:
            ctx.run.reached(f"{until} done")
        if until == "report" or ctx.tuned:
            report.html_report(ctx)
        return self.summary()

    def _other_repeats(self, dataset_dir: Path, first: SplitData) -> None:
        """`split: {repeats: R}` / `{folds: F}`: train and score every model on splits 1..R-1
        too, under repeats/<r>/ (the first split keeps the run folder's usual places, so export,
        compare and recommend work on it unchanged); then aggregate over all R."""
        from recsys_cli.evaluation import repeats
        from recsys_cli.report.tables import LOWER_IS_BETTER

        ctx, block = self.ctx, self.experiment.split
        per_repeat, splits, prefixes = [dict(ctx.summaries)], [first], [""]
        # The first split's records stay the run's: export, breakdown and report read them.
        kept = (ctx.summaries, dict(ctx.intervals), dict(ctx.breakdowns), dict(ctx.test_top_lists))
        try:
            for index in range(1, block.count):
                ctx.prefix = f"repeats/{index}/"
                split_r = split_for_run(ctx, dataset_dir, index)
                ctx.summaries = {}
                for entry in self.experiment.models:
                    evaluate.evaluate(ctx, entry, train.train(ctx, entry, split_r), split_r)
                per_repeat.append(dict(ctx.summaries))
                splits.append(split_r)
                prefixes.append(ctx.prefix)
        finally:
            ctx.prefix = ""
            ctx.summaries, ctx.intervals, ctx.breakdowns, ctx.test_top_lists = kept
        ctx.repeats = repeats.summarise(per_repeat, [s.info["seed"] for s in splits], [str(s.path) for s in splits],
                                        [len(s.test_users) for s in splits], folds=block.folds, seed=ctx.seeds["split"],
                                        lower_is_better=LOWER_IS_BETTER)
        if block.folds is not None:  # every user is in one fold: pair the models over all of them
            per_user = {entry.name: evaluate.per_user_values(ctx.run.path, entry.name, prefixes)
                        for entry in self.experiment.models}
            ctx.repeats["pooled"] = repeats.pooled_over_folds(per_user, lower_is_better=LOWER_IS_BETTER)

    def summary(self) -> dict:
        ctx = self.ctx
        return {
            "name": self.experiment.name, "run_id": ctx.run.path.name, "path": str(ctx.run.path),
            "status": ctx.run.manifest["status"], "metrics": ctx.summaries, "intervals_95": ctx.intervals,
            "significantly_best": ctx.best, "repeats": ctx.repeats,
            "tuning": ctx.tuning_summary(),
            "test_users": ctx.user_counts,
            "cold_users": ctx.cold["summary"] if ctx.cold else None,
            "stages": {k: {"status": v.get("status"), "seconds": v.get("seconds"), "reused_from": v.get("reused_from"),
                           "artifact": v.get("artifact")}
                       for k, v in ctx.run.manifest["stages"].items()},
        }


def run_experiment(config_path: Path, runs_dir: Path = Path("runs"), until: str = "report", wait: bool = True,
                   reporter: Reporter | None = None) -> dict:
    """Load and validate an experiment file, then run its stages up to `until`."""
    from recsys_cli.config.load import load_experiment

    experiment, _ = load_experiment(config_path)
    return ExperimentRun(experiment, runs_dir, reporter).execute(until=until, wait=wait)


def tune_experiment(config_path: Path, runs_dir: Path = Path("runs"), models: list[str] | None = None,
                    trials: int | None = None, timeout: float | None = None, jobs: int = 1,
                    metric: str | None = None, wait: bool = True, reporter: Reporter | None = None) -> dict:
    """`recsys tune`: tune the chosen models on validation (those named, else those with a
    `tune:` entry, else every model with something to tune), then train each best on the
    whole train split and evaluate it once on test."""
    from pydantic import ValidationError

    from recsys_cli.config.blocks import TuneBlock
    from recsys_cli.config.load import load_experiment
    from recsys_cli.models.registry import model_class

    experiment, _ = load_experiment(config_path)
    known = [m.name for m in experiment.models]
    unknown = [m for m in models or [] if m not in known]
    if unknown:
        raise InputError(f"no model named {', '.join(unknown)} in the experiment; it has {', '.join(known)}",
                         path=config_path)
    chosen = [m for m in experiment.models if (m.name in models if models else m.tune_block() is not None)]
    if not chosen:
        chosen = [m for m in experiment.models if model_class(m.type).tune_space]
    tuned = []
    for entry in chosen:
        block = entry.tune_block() or TuneBlock()
        if metric is not None:
            try:
                block = TuneBlock.model_validate({**block.model_dump(), "metric": metric})
            except ValidationError as error:
                raise InputError(f"--metric {metric!r}: {error.errors()[0]['msg']}") from None
        tuned.append(entry.model_copy(update={"tune": block}))
    if not tuned:
        raise InputError("nothing to tune: no model in the experiment has parameters to search", path=config_path)
    experiment = experiment.model_copy(update={"models": tuned})
    runner = ExperimentRun(experiment, runs_dir, reporter, jobs=jobs, tune_trials=trials, tune_timeout=timeout)
    return runner.execute(until="evaluate", wait=wait)
