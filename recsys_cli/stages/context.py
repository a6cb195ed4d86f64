"""What every stage of a run shares: the `RunContext` (experiment, run folder, store, dataset,
seeds, reporter, backend, and the records collected so far) and the stage bookkeeping that
decides whether a stage's artifact already exists (`adopt`), builds and publishes it once
(`timed`) or lets the stage check itself (`always`).

The context is the only thing stages have in common, so no stage needs to import another.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

from recsys_cli.core.atomic import fingerprint
from recsys_cli.data.split_folder import SplitData
from recsys_cli.store.artifacts import ArtifactStore, artifact_lock


@dataclass
class StageResult:
    path: Path  # the stored folder
    info: dict
    skipped: bool  # True when the folder was already up to date
    name: Path | None = None  # the user's name for it (a link), when it has one


class Reporter:
    """What a stage chain tells its caller; the CLI renders it with rich, scripts ignore it."""

    def stage(self, name: str, seconds: float, skipped: bool) -> None:
        pass

    def progress(self, description: str, total: int):
        """Return a callable `advance(n, description=None)` for a progress bar; the bar
        closes on `done()`."""
        return lambda n, description=None: None

    def done(self) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def detail(self, description: str, done: int, total: int) -> None:
        """Progress within one long step (a model's fit), under the current bar."""

    def end_detail(self) -> None:
        pass


def _dataset_items(dataset):
    """items.parquet's table, read on first use. A module function of the (picklable)
    dataset, so tuning trials can build models on Ray workers."""
    return dataset.items


@dataclass
class RunContext:
    """One execution of an experiment: its inputs, where it writes, and what the stages
    have recorded so far (read by the later stages, the report and the summary)."""

    experiment: object  # config.Experiment, paths absolute
    runs_dir: Path
    reporter: Reporter
    jobs: int = 1
    tune_trials: int | None = None  # command-line overrides of every tune block
    tune_timeout: float | None = None
    config: dict = field(default_factory=dict)
    seeds: dict = field(default_factory=dict)  # every seed the run uses; recorded in the manifest
    store: ArtifactStore | None = None
    run: object = None  # runs.Run, once the folder is opened
    backend: object = None
    dataset: object = None  # data.dataset.Dataset
    weight_kind: str = "implicit"
    prefix: str = ""  # run-folder prefix of the split being trained and scored: "" or repeats/<r>/
    tuned: dict = field(default_factory=dict)  # model name -> tune stage record
    default_tests: dict = field(default_factory=dict)  # tuned model name -> its untuned default's test summary
    summaries: dict = field(default_factory=dict)
    best: dict = field(default_factory=dict)  # metric@k -> significantly best model (None: no clear winner)
    repeats: dict = field(default_factory=dict)  # aggregate over repeated splits (split: {repeats/folds})
    intervals: dict = field(default_factory=dict)
    test_top_lists: dict = field(default_factory=dict)  # model -> (ids, scores) from a fresh evaluation
    breakdowns: dict = field(default_factory=dict)  # model -> metrics by user activity / item popularity
    cold: dict | None = None  # the cold users' evaluation record (popularity fallback)
    user_counts: dict | None = None  # test users: warm, cold

    # -- stage bookkeeping ------------------------------------------------------------------
    def artifact(self, stage: str, key: str, paths: list[str]) -> tuple[str, str]:
        """The store address of a stage's output: its kind (train, evaluate, export, tune)
        and the fingerprint of its inputs together with where its files live in a run."""
        return stage.split("/")[0], fingerprint([key, sorted(paths)])

    def adopt(self, stage: str, key: str, paths: list[str]) -> bool:
        """True if `stage` with input fingerprint `key` is already done here, or its artifact
        is in the store (then its files are hard-linked in and its record adopted)."""
        kind, address = self.artifact(stage, key, paths)
        if self.run.stage_done(stage, key) and all((self.run.path / p).exists() for p in paths) \
                and self.store.intact_in(kind, address, self.run.path):
            return True
        stored = self.store.link_into(kind, address, self.run.path)
        for note in self.store.take_notes():  # a damaged artifact was set aside: say it is recomputed
            self.reporter.message(note)
            self.run.log(note)
        if stored is None:
            return False
        self.run.manifest["stages"][stage] = dict(stored["record"], reused_from=stored.get("origin"),
                                                  artifact=f"{kind}/{address}")
        self.run.save()
        return True

    def timed(self, stage: str, key: str, paths: list[str], work) -> dict:
        """Run `work(entry)` as a recorded stage unless its artifact exists; publish what it
        wrote to the store; report either way. Returns the stage's manifest record."""
        kind, address = self.artifact(stage, key, paths)
        with artifact_lock(self.store, kind, address):  # concurrent runs build it once
            if self.adopt(stage, key, paths):
                self.reporter.stage(stage, 0.0, skipped=True)
                self.run.log(f"{stage}: up to date")
                return self.run.manifest["stages"][stage]
            started = time.perf_counter()
            with self.run.stage(stage, key) as entry:
                work(entry)
            entry["artifact"] = f"{kind}/{address}"  # where readers of the run find the stored checksums
            self.store.publish(kind, address, self.run.path, [p for p in paths if (self.run.path / p).exists()],
                               dict(entry), origin=self.run.path.name)
        self.reporter.stage(stage, time.perf_counter() - started, skipped=False)
        self.run.log(f"{stage}: done in {entry['seconds']}s")
        return entry

    def always(self, stage: str, work) -> None:
        """Stages that decide for themselves whether they are up to date (by re-hashing)."""
        started = time.perf_counter()
        with self.run.stage(stage, "self-checked") as entry:
            work(entry)
        self.reporter.stage(stage, time.perf_counter() - started, skipped=entry.get("skipped", False))

    def dataset_wait(self, dataset_dir: Path):
        return lambda why: self.reporter.message(f"waiting for the dataset folder {dataset_dir} ({why})...")

    # -- what several stages derive from the config -------------------------------------------
    def train_key(self, entry, split: SplitData, params=None) -> str:
        from recsys_cli.models.registry import model_class

        cls = model_class(entry.type)
        params = params if params is not None else self.params(entry)
        return fingerprint({"split": split.info["fingerprint"], "type": entry.type, "use_weights": entry.use_weights,
                            "params": params.model_dump(), "seed": self.experiment.seed,
                            "threads": None if cls.deterministic else self.experiment.threads})

    def params(self, entry):
        """The config's parameters, overridden by the tuned best when the entry tunes."""
        from recsys_cli.models.registry import model_class

        best = self.tuned.get(entry.name, {}).get("best_params", {})
        return model_class(entry.type).Params.model_validate({**entry.params, **best})

    def build_options(self, entry) -> dict:
        """build_model's dataset-dependent options: item metadata (read on first use) and, on
        a rated dataset, whether the entry's model learns from interactions or the values."""
        return {"items": functools.partial(_dataset_items, self.dataset), "rated": self.weight_kind == "rating",
                "use_weights": entry.use_weights}

    def filter_seen(self, entry) -> bool:
        return self.experiment.metrics.filter_seen if entry.filter_seen is None else entry.filter_seen

    def headline_metric(self) -> str:
        metrics = self.experiment.metrics
        return f"{metrics.names[0]}@{max(metrics.k)}"

    # -- views of the records, shared by metrics, report and summary ---------------------------
    def protocol(self, split: SplitData) -> dict:
        metrics = self.experiment.metrics
        return {
            "split": {"strategy": split.info["strategy"], "params": split.info["params"], "seed": split.info["seed"],
                      "path": str(split.path), "fingerprint": split.info["fingerprint"]},
            "k": metrics.k,
            "ranking": "full catalogue; ties by item index (implicit-based models: implicit's top-k)",
            "filter_seen": {e.name: self.filter_seen(e) for e in self.experiment.models},
            "test_users": len(split.test_users),
            "cold_test_users": self.cold["test_users"] if self.cold else 0,
            "catalogue_items": int(split.train.shape[1]),
            "fold_in": split.fold_in,
            "means": "over users with test items; coverage over the catalogue",
        }

    def breakdown_extra(self, split: SplitData) -> dict:
        from recsys_cli.evaluation.breakdown import warm_and_cold

        extra = warm_and_cold(self.summaries, self.breakdowns, len(split.test_users), self.cold)
        self.user_counts = extra["test_users"]
        return extra

    def tuning_summary(self) -> dict:
        """Per tuned model: default vs best on validation and on test (each trained on train
        and tested once), and whether the tuned model is worse on test than its default."""
        out = {}
        for name, record in self.tuned.items():
            metric = record["metric"]
            best_test = self.summaries.get(name, {}).get(metric)
            default_test = self.default_tests.get(name, {}).get("summary", {}).get(metric)
            out[name] = {
                "metric": metric, "objective": record.get("objective"), "folds": record.get("folds", 1),
                "default_validation": record["default_value"], "best_validation": record["best_value"],
                "validation_spread": {"default": record.get("default_spread", {}), "best": record.get("best_spread", {})},
                "default_test": default_test, "test": best_test,
                "worse_on_test": None if best_test is None or default_test is None else best_test < default_test,
                "best_params": record["best_params"], "complete": record["complete"], "pruned": record["pruned"],
                "failed": record["failed"], "seconds": record["seconds"],
                "seconds_saved_by_pruning": record["seconds_saved_by_pruning"],
            }
        return out
