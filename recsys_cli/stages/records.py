"""The frozen records stages return, and the views of them that metrics.json, the report and
the run summary share.

A stage is a function from the run's `StageEnv` and typed inputs to one of these; no stage
writes into another's record or into a shared object. The driver (run.py) composes them: a
split's `SplitScores` is tune -> specs -> train -> evaluate (and the defaults beside tuned
models), and a run with repeats or folds is that composition called again for each split.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from recsys_cli.core.atomic import fingerprint


def frozen_mapping(values: Mapping | None = None) -> Mapping:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class StageResult:
    """What `recsys ingest` and `recsys split` made: the stored folder and its record."""

    path: Path
    info: dict
    skipped: bool  # True when the folder was already up to date
    name: Path | None = None  # the user's name for it (a link), when it has one


@dataclass(frozen=True)
class ModelSpec:
    """A model entry with its parameters validated once — the config's, or the tuned best
    over them — into the one value the fingerprint, the fit and the report all read."""

    name: str
    type: str
    params: Any  # the model type's frozen pydantic Params
    use_weights: bool
    filter_seen: bool
    deterministic: bool

    @classmethod
    def for_entry(cls, experiment, entry, best_params: Mapping | None = None) -> "ModelSpec":
        """The entry's spec: the parameters the config validated, or the tuned best over
        them (validated here, once)."""
        from recsys_cli.models.registry import model_class

        model = model_class(entry.type)
        params = (model.Params.model_validate({**entry.params, **best_params}) if best_params
                  else experiment.model_params(entry))
        filter_seen = experiment.metrics.filter_seen if entry.filter_seen is None else entry.filter_seen
        return cls(entry.name, entry.type, params, entry.use_weights, filter_seen, model.deterministic)

    def key(self, split_fingerprint: str, seed: int, threads: int) -> str:
        """The fingerprint of a fit: the split, the model and its parameters, the seed, and
        the threads where they change the result."""
        return fingerprint({"split": split_fingerprint, "type": self.type, "use_weights": self.use_weights,
                            "params": self.params.model_dump(), "seed": seed,
                            "threads": None if self.deterministic else threads})


@dataclass(frozen=True)
class TuneResult:
    """One model's search on one split's validation part (the tune stage's record)."""

    name: str
    record: Mapping

    @property
    def best_params(self) -> dict:
        return dict(self.record.get("best_params") or {})

    @property
    def metric(self) -> str:
        return self.record["metric"]


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A trained model, loaded from its run folder on first `get()`: a re-run whose
    evaluation and export are reused never reads (nor imports the library of) a saved model."""

    spec: ModelSpec
    key: str  # the train stage's fingerprint
    folder: Path  # absolute: <run>/<prefix>models/<name>
    load: Callable[[], Any]
    fitted: Any = None  # the model object when this run fitted it

    @functools.cached_property
    def _loaded(self):
        return self.fitted if self.fitted is not None else self.load()

    def get(self):
        return self._loaded


@dataclass(frozen=True, eq=False)
class ModelEvaluation:
    """A model's scores on one split's test users (the evaluate stage's record)."""

    name: str
    key: str
    summary: Mapping  # metric@k -> mean over test users (coverage: catalogue share)
    intervals: Mapping  # metric@k -> (low, high) 95% bootstrap interval
    breakdown: Mapping  # by user activity and held-out item popularity
    test_users: int
    top_lists: tuple | None = None  # (ids, scores) of a fresh evaluation, for the export


@dataclass(frozen=True)
class DefaultEvaluation:
    """A tuned model's untuned parameters, trained on train and scored on test once."""

    name: str
    summary: Mapping
    same_as_best: bool  # the search kept the defaults


@dataclass(frozen=True)
class SplitScores:
    """One split through tune -> train -> evaluate: every record of that composition."""

    index: int
    prefix: str  # "" for the first split, "repeats/<r>/" for the others
    split: Any  # data.split_folder.SplitData
    tuned: Mapping[str, TuneResult]
    specs: Mapping[str, ModelSpec]
    trained: Mapping[str, TrainedModel]
    evaluations: Mapping[str, ModelEvaluation]
    defaults: Mapping[str, DefaultEvaluation]

    @property
    def summaries(self) -> dict[str, Mapping]:
        return {name: e.summary for name, e in self.evaluations.items()}


@dataclass(frozen=True)
class RunResults:
    """What a run measured: every split's scores (the first is the run's own folder), the
    cold users' fallback, the significantly best per column and the aggregate over splits."""

    splits: tuple[SplitScores, ...]
    cold: Mapping | None = None  # the cold users' evaluation record (popularity fallback)
    best: Mapping = field(default_factory=frozen_mapping)  # metric@k -> significantly best model or None
    repeats: Mapping = field(default_factory=frozen_mapping)  # aggregate over repeated splits
    baseline: Mapping = field(default_factory=frozen_mapping)  # tonight against the baseline run (stages/gate.py)
    gate: Mapping | None = None  # the gate's verdict: {"passed", "data", "metrics", "failed"}

    @property
    def first(self) -> SplitScores:
        return self.splits[0]

    @property
    def summaries(self) -> dict[str, Mapping]:
        return self.first.summaries

    @property
    def intervals(self) -> dict[str, dict]:
        return {name: {k: tuple(v) for k, v in e.intervals.items()} for name, e in self.first.evaluations.items()}

    @property
    def breakdowns(self) -> dict[str, Mapping]:
        return {name: e.breakdown for name, e in self.first.evaluations.items()}

    def best_model(self, metric: str) -> str | None:
        """The significantly best model on `metric`, else the one with the best mean."""
        from recsys_cli.evaluation.metrics import best_of

        scored = {name: s[metric] for name, s in self.summaries.items() if s.get(metric) is not None}
        return self.best.get(metric) or best_of(scored, metric)

    def warm_and_cold(self) -> dict:
        """metrics.json's test-user counts, the cold users' row and the breakdowns."""
        from recsys_cli.evaluation.breakdown import warm_and_cold

        return warm_and_cold(self.summaries, self.breakdowns, len(self.first.split.test_users), self.cold)

    def user_counts(self) -> dict | None:
        return self.warm_and_cold()["test_users"] if self.first.evaluations else None

    def protocol(self, experiment) -> dict:
        """Which protocol produced the numbers, said beside them (DESIGN: never compare
        numbers of different protocols silently)."""
        split, specs = self.first.split, self.first.specs
        metrics = experiment.metrics
        return {
            "split": {"strategy": split.info["strategy"], "params": split.info["params"], "seed": split.info["seed"],
                      "path": str(split.path), "fingerprint": split.info["fingerprint"]},
            "k": metrics.k,
            "ranking": "full catalogue; ties by item index (implicit-based models: implicit's top-k)",
            "filter_seen": {name: spec.filter_seen for name, spec in specs.items()},
            "test_users": len(split.test_users),
            "cold_test_users": self.cold["test_users"] if self.cold else 0,
            "catalogue_items": int(split.train.shape[1]),
            "fold_in": split.fold_in,
            "means": "over users with test items; coverage over the catalogue",
        }

    def tuning_summary(self) -> dict:
        """Per tuned model: default vs best on validation and on test (each trained on train
        and tested once) on the first split, and whether the tuned model is worse on test."""
        out = {}
        first = self.first
        for name, tuned in first.tuned.items():
            record, metric = tuned.record, tuned.metric
            best_test = first.evaluations[name].summary.get(metric) if name in first.evaluations else None
            default = first.defaults.get(name)
            default_test = default.summary.get(metric) if default is not None else None
            out[name] = {
                "metric": metric, "objective": record.get("objective"), "folds": record.get("folds", 1),
                "default_validation": record["default_value"], "best_validation": record["best_value"],
                "validation_spread": {"default": record.get("default_spread", {}), "best": record.get("best_spread", {})},
                "default_test": default_test, "test": best_test,
                "worse_on_test": None if best_test is None or default_test is None else best_test < default_test,
                "best_params": record["best_params"], "complete": record["complete"], "pruned": record["pruned"],
                "failed": record["failed"], "seconds": record["seconds"],
                "seconds_saved_by_pruning": record["seconds_saved_by_pruning"],
                **{key: record.get(key) for key in ("selection", "stopped_by", "target", "sessions", "study_seconds",
                                                "duplicates")},
            }
        return out
