"""The run driver: an experiment file through its stages into a run folder.

`ExperimentRun` opens (or resumes) the run folder under the experiment's lock and composes
the stages — ingest -> split -> (tune -> train -> evaluate) per split -> metrics -> export ->
report -> compare. Each stage is a function in recsys_cli/stages/ from the run's `StageEnv`
and typed inputs to a frozen record; whether its artifact already exists (in this run or any
other, through the store) is decided by the env's bookkeeping. The driver owns the only
mutable state of a run: the run folder's manifest.

With `split: {repeats: R}` or `{folds: F}`, `score_split` — tune on that split's own
validation part, train, evaluate, the defaults beside tuned models — is called once per
split, so every split's models (and the parameters chosen for them) only ever saw that
split's training part.
"""

from __future__ import annotations

from pathlib import Path

from recsys_cli.core.errors import GateFailed, InputError
from recsys_cli.data.split_folder import SplitData
from recsys_cli.stages import evaluate, export, gate, report, train, tune
from recsys_cli.stages.compare import compare
from recsys_cli.stages.env import Reporter, StageEnv
from recsys_cli.stages.ingest import dataset_for_run
from recsys_cli.stages.records import ModelSpec, RunResults, SplitScores, frozen_mapping
from recsys_cli.stages.split import split_for_run
from recsys_cli.store.artifacts import ArtifactStore


class ExperimentRun:
    """One execution of an experiment file into its run folder."""

    def __init__(self, experiment, runs_dir: Path, reporter: Reporter | None = None, jobs: int = 1,
                 tune_trials: int | None = None, tune_timeout: float | None = None):
        from recsys_cli.config.load import with_absolute_paths
        from recsys_cli.core.atomic import fingerprint as fp

        self.experiment = with_absolute_paths(experiment)
        self.runs_dir = Path(runs_dir).absolute()
        self.config = self.experiment.model_dump(mode="json")
        self.config_fingerprint = fp(self.config)
        self.reporter = reporter or Reporter()
        self.options = {"jobs": jobs, "tune_trials": tune_trials, "tune_timeout": tune_timeout}
        self.run = None
        self.results: RunResults | None = None

    # -- the chain --------------------------------------------------------------------------
    def execute(self, until: str = "report", wait: bool = True) -> dict:
        from recsys_cli.backends import open_backend
        from recsys_cli.store.runs import Run, experiment_lock

        import time

        started = time.perf_counter()
        experiment = self.experiment
        folder = self.runs_dir / experiment.name
        waiting = lambda holder: self.reporter.message(  # noqa: E731
            f"waiting for another run of {experiment.name!r} to finish ({holder})...")
        with experiment_lock(folder, wait=wait, on_wait=waiting):
            self.run = Run.open_or_resume(self.runs_dir, experiment.name, self.config_fingerprint,
                                          experiment.seed, experiment.threads)
            self._write_config()
            self._started = started
            try:
                with open_backend(experiment) as backend:
                    self.run.manifest["backend"] = backend.describe()
                    env = StageEnv(experiment=experiment, config=self.config, seeds=experiment.seeds(), run=self.run,
                                   store=ArtifactStore.for_runs(self.runs_dir), backend=backend, dataset=None,
                                   reporter=self.reporter, runs_dir=self.runs_dir, **self.options)
                    return self._chain(env, until)
            except GateFailed:
                raise  # the run itself recorded its status (complete, or "gate failed" before training)
            except BaseException as error:
                status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
                if not self.run.has_finished_stage():
                    self.run.discard()  # a config that fails before any stage leaves no folder
                    raise
                self.run.manifest["status"] = status
                self.run.save()
                self.run.log(f"{status}: {type(error).__name__}: {error}")
                raise

    def _write_config(self) -> None:
        import yaml

        from recsys_cli.core.atomic import write_text

        write_text(self.run.path / "config.yaml", yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True))

    def _chain(self, env: StageEnv, until: str) -> dict:
        from recsys_cli.data.dataset import Dataset
        from recsys_cli.data.dataset_lock import dataset_lock

        dataset_dir = dataset_for_run(env)
        # Held shared to the end: `recsys runs prune` leaves a version in use alone.
        with dataset_lock(dataset_dir, exclusive=False, on_wait=env.dataset_wait(dataset_dir)):
            env = env.with_changes(dataset=Dataset.open(dataset_dir))  # items/users read once, on first use
            self._data_gate(env, dataset_dir)
            return self._chain_on(env, dataset_dir, until)

    def _data_gate(self, env: StageEnv, dataset_dir: Path) -> None:
        """The gate's data conditions, before any model is fitted: a failure stops the run here."""
        verdict = gate.check_data(env, dataset_dir)
        if verdict is None:
            return
        self.run.manifest["gate"] = {"passed": verdict["passed"], "data": dict(verdict)}
        self.run.save()
        self.run.log(f"gate (data): {'passed' if verdict['passed'] else 'failed: ' + '; '.join(verdict['failed'])}")
        if not verdict["passed"]:
            self.run.manifest["status"] = "gate failed"
            self.run.save()
            raise GateFailed("; ".join(verdict["failed"]) + " (data checks, before training)")

    def _chain_on(self, env: StageEnv, dataset_dir: Path, until: str) -> dict:
        experiment = self.experiment
        tunes = any(entry.tune_block() for entry in experiment.models)
        first_split = split_for_run(env, dataset_dir, validation=tunes)
        if experiment.split.path is not None:  # a ready split folder carries its own seeds
            env = env.with_changes(seeds={**env.seeds, "split": first_split.info["seed"],
                                          "validation": first_split.info.get("validation_seed")})
        self.run.manifest["seeds"] = dict(env.seeds)
        self.run.save()
        first = self.score_split(env, first_split, index=0, evaluate_models=until != "train")
        if until == "train":
            self.results = RunResults((first,))
            self.run.reached("train done")
            return self.summary()
        splits = [first] + [self.score_split(env.with_changes(prefix=f"repeats/{index}/"),
                                             split_for_run(env.with_changes(prefix=f"repeats/{index}/"), dataset_dir,
                                                           index, validation=tunes), index)
                            for index in range(1, experiment.split.count)]
        baseline = gate.compare_with_baseline(env, first.summaries, first_split.info["fingerprint"])
        verdict = self._metric_gate(env, first, baseline)
        self.results = results = RunResults(
            tuple(splits), cold=evaluate.evaluate_cold(env, first_split),
            best=evaluate.significant_best(env, first.evaluations), repeats=self._repeats(env, splits),
            baseline=baseline, gate=verdict)
        report.write_metrics(env, results)
        if until == "evaluate" and first.tuned:  # a tune-only run folder gets its report too
            report.report(env, results)
        if until == "report":
            export.export(env, first)
            report.report(env, results)
            if experiment.compare is not None:
                compare(env)
            self._record_wall_time()
            self.run.complete()
            if verdict is not None and verdict["passed"]:
                from recsys_cli.store.baseline import PASSED, point

                point(self.run.path.parent, PASSED, self.run.path)
        else:
            self.run.reached(f"{until} done")
        if until == "report" or first.tuned:
            report.html_report(env, first_split)
        if until == "report" and experiment.tracking is not None:  # last: report.html is logged too
            from recsys_cli.stages.track import track_run

            track_run(env)
        if verdict is not None and not verdict["passed"]:
            raise GateFailed("; ".join(verdict["failed"]), summary=self.summary())
        return self.summary()

    def _metric_gate(self, env: StageEnv, first: SplitScores, baseline) -> dict | None:
        """The gate's verdict over the data checks (passed, or the run would have stopped) and
        the metric conditions; recorded in the manifest."""
        metrics = gate.metric_verdict(env, first.summaries, baseline)
        if metrics is None and "gate" not in self.run.manifest:
            return None
        record = dict(self.run.manifest.get("gate") or {})
        if metrics is not None:
            record["metrics"] = dict(metrics)
        record["failed"] = list((record.get("metrics") or {}).get("failed") or [])
        record["passed"] = not record["failed"]
        record["baseline"] = dict(baseline.get("baseline") or {}) or None
        self.run.manifest["gate"] = record
        self.run.save()
        self.run.log(f"gate: {'passed' if record['passed'] else 'failed: ' + '; '.join(record['failed'])}")
        return record

    def _record_wall_time(self) -> None:
        """The seconds this command spent on the run, for the report: timestamps of one-second
        resolution made a 4.7 s re-run read "1.0 s"."""
        import time

        self.run.manifest["wall_seconds"] = round(time.perf_counter() - self._started, 3)

    def score_split(self, env: StageEnv, split: SplitData, index: int, evaluate_models: bool = True) -> SplitScores:
        """One split through the stages: each tuning model searched on this split's own
        validation part, every model trained on its train part and scored on its test part,
        and a tuned model's untuned defaults scored beside it."""
        entries = self.experiment.models
        tuned = {e.name: tune.tune(env, e, split) for e in entries if e.tune_block() is not None}
        specs = {e.name: ModelSpec.for_entry(self.experiment, e, tuned[e.name].best_params if e.name in tuned else None)
                 for e in entries}
        advance = env.reporter.progress("training", len(entries))
        trained = {}
        for name, spec in specs.items():
            trained[name] = train.train(env, spec, split)
            advance(1, f"training (done: {name})")
        env.reporter.done()
        evaluations, defaults = {}, {}
        if evaluate_models:
            evaluations = {name: evaluate.evaluate(env, trained[name], split) for name in specs}
            defaults = {e.name: evaluate.evaluate_default(env, ModelSpec.for_entry(self.experiment, e), specs[e.name],
                                                          evaluations[e.name], split)
                        for e in entries if e.name in tuned}
        return SplitScores(index, env.prefix, split, frozen_mapping(tuned), frozen_mapping(specs),
                           frozen_mapping(trained), frozen_mapping(evaluations), frozen_mapping(defaults))

    def _repeats(self, env: StageEnv, splits: list[SplitScores]) -> dict:
        """The aggregate over repeated splits (`split: {repeats: R}` / `{folds: F}`), with
        every model pair compared per user over all folds together when the folds partition
        the users, and each tuned model against its defaults (evaluation/repeats.py)."""
        import numpy as np

        from recsys_cli.evaluation import repeats
        from recsys_cli.evaluation.metrics import lower_is_better

        if len(splits) < 2:
            return {}
        block = self.experiment.split
        tuned_params = {str(s.index): {name: t.best_params for name, t in s.tuned.items()} for s in splits if s.tuned}
        summary = repeats.summarise([s.summaries for s in splits], [s.split.info["seed"] for s in splits],
                                    [str(s.split.path) for s in splits], [s.split.test_users for s in splits],
                                    [np.flatnonzero(np.diff(s.split.train.indptr)) for s in splits],
                                    folds=block.folds, seed=env.seeds["split"], lower_is_better=lower_is_better(),
                                    tuned_params=tuned_params)
        if block.folds is not None:  # every user is in one fold: pair the models over all of them
            prefixes = [s.prefix for s in splits]
            per_user = {name: evaluate.per_user_values(self.run.path, name, prefixes) for name in splits[0].evaluations}
            summary["pooled"] = repeats.pooled_over_folds(per_user, lower_is_better=lower_is_better())
        compared = evaluate.tuned_and_default(self.run.path, splits, pooled=block.folds is not None)
        if compared:
            summary["tuned_vs_default"] = repeats.tuned_against_default(
                compared, summary.get("n_test_over_n_train"), folds=block.folds is not None)
        return summary

    def summary(self) -> dict:
        results, manifest = self.results, self.run.manifest
        return {
            "name": self.experiment.name, "run_id": self.run.path.name, "path": str(self.run.path),
            "status": manifest["status"], "metrics": results.summaries,
            "intervals_95": results.intervals if results.first.evaluations else {},
            "significantly_best": dict(results.best), "repeats": dict(results.repeats),
            "gate": results.gate, "baseline": dict(results.baseline), "tracking": manifest.get("tracking"),
            "tuning": results.tuning_summary() if results.first.evaluations else {},
            "test_users": results.user_counts(),
            "cold_users": results.cold["summary"] if results.cold else None,
            "stages": {k: {"status": v.get("status"), "seconds": v.get("seconds"), "reused_from": v.get("reused_from"),
                           "artifact": v.get("artifact")}
                       for k, v in manifest["stages"].items()},
        }


def run_experiment(config_path: Path, runs_dir: Path = Path("runs"), until: str = "report", wait: bool = True,
                   reporter: Reporter | None = None, gates: list[str] | None = None) -> dict:
    """Load and validate an experiment file, then run its stages up to `until`. `gates`:
    conditions added to the file's `gate:` (`recsys run --gate ...`)."""
    from recsys_cli.config.load import load_experiment, with_gates

    experiment, _ = load_experiment(config_path)
    if gates:
        experiment = with_gates(experiment, gates, config_path)
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
