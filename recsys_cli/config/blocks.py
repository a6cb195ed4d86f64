"""The blocks of an experiment file as typed pydantic models: dataset (ingest), split, models
and their tune blocks, metrics, export, compare, ray, tracking. Option lists come from the registries.

Relative paths in the file are relative to the working directory, like the CLI's own paths
(run cron jobs from the project folder).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from recsys_cli.data.sources import FORMATS
from recsys_cli.evaluation.metrics import selectable
from recsys_cli.models.registry import MODELS, model_class
from recsys_cli.core.seeds import DEFAULT_SEED
from recsys_cli.tuning.space import SpaceEntry

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
FILTER_KEYS = ("min_user_interactions", "min_item_interactions", "dedupe", "debug_slice", "slice_seed", "aggregate",
               "weighting", "weighting_eps")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestBlock(BaseModel):
    """`dataset: {format: movielens, path: data/raw/ml-1m, min_rating: 4}`: ingest first.
    Other keys are the format's reader options or the shared ingest filters."""

    model_config = ConfigDict(extra="allow")
    format: Literal[tuple(FORMATS)]  # type: ignore[valid-type]
    path: Optional[Path] = None
    out: Optional[Path] = None

    @model_validator(mode="after")
    def _known_options(self):
        from recsys_cli.data.sources import reader

        allowed = [p for p in inspect.signature(reader(self.format)).parameters if p != "path"]
        unknown = [k for k in (self.model_extra or {}) if k not in allowed and k not in FILTER_KEYS]
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for format {self.format!r}; "
                             f"allowed: {', '.join(allowed + list(FILTER_KEYS))}")
        if self.path is None and self.format != "synthetic":
            raise ValueError(f"format {self.format!r} needs a path")
        _check_option_types(reader(self.format), self.model_extra or {})
        return self

    def reader_options(self) -> dict[str, Any]:
        return {k: v for k, v in (self.model_extra or {}).items() if k not in FILTER_KEYS}

    def filters(self, slice_seed: int = DEFAULT_SEED):
        """The shared ingest filters; `slice_seed` seeds the debug slice unless the block
        sets `slice_seed` itself."""
        from recsys_cli.data.filters import IngestFilters

        given = {k: v for k, v in (self.model_extra or {}).items() if k in FILTER_KEYS}
        if "debug_slice" in given:
            given["debug_slice"] = tuple(given["debug_slice"])
        given["seed"] = given.pop("slice_seed", slice_seed)
        return IngestFilters(**given)


def _check_option_types(read, options: dict) -> None:
    """Each reader option and ingest filter must have the type its parameter declares."""
    import typing

    from pydantic import TypeAdapter

    from recsys_cli.data.filters import IngestFilters

    hints = {**typing.get_type_hints(read), **typing.get_type_hints(IngestFilters)}
    hints["slice_seed"] = hints["seed"]
    problems = []
    for key, value in options.items():
        if key in hints and key != "path":
            try:
                TypeAdapter(hints[key]).validate_python(value, strict=isinstance(value, str) and hints[key] is not str)
            except ValidationError as error:
                problems.append(f"{key}: {error.errors()[0]['msg']} (got {short_value(value)})")
    if problems:
        raise ValueError("; ".join(problems))


class SplitBlock(BaseModel):
    """`split: {strategy: leave-one-random, test_users: 0.2, validation: true}` or
    `split: {path: data/ml-1m/splits/s1}`. `seed` defaults to one derived from the
    experiment's seed. A strategy's own parameters (test_users, before, last, n, ...) are the
    ones it declares in the split-strategy registry (data/split_strategies.py), checked there."""

    model_config = ConfigDict(extra="allow")

    path: Optional[Path] = None
    strategy: Optional[str] = None
    seed: Optional[int] = None
    validation: bool = False
    repeats: int = Field(1, ge=1, le=100, description="independent seeded draws, every model scored on each")
    folds: Optional[int] = Field(None, ge=2, le=100, description="user folds (leave-one-random, user-holdout)")

    @field_validator("strategy")
    @classmethod
    def _registered(cls, name):
        from recsys_cli.data.split_strategies import STRATEGIES

        if name is not None and name not in STRATEGIES:
            raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(map(repr, STRATEGIES))}")
        return name

    @model_validator(mode="after")
    def _one_source(self):
        from pydantic_core import InitErrorDetails, PydanticCustomError

        from recsys_cli.data.split_strategies import fold_strategies, param_problems

        if (self.path is None) == (self.strategy is None):
            raise ValueError("give either `strategy` (split now) or `path` (an existing split folder)")
        if (self.repeats > 1 or self.folds is not None) and self.strategy is None:
            raise ValueError("`repeats` and `folds` draw new splits: they need `strategy`, not `path`")
        if self.repeats > 1 and self.folds is not None:
            raise ValueError("give `repeats` (independent draws) or `folds` (user folds), not both")
        if self.folds is not None and self.strategy not in fold_strategies():
            raise ValueError(f"`folds` partitions test users: strategy must be one of {', '.join(sorted(fold_strategies()))}")
        if self.strategy is None and self.model_extra:
            raise ValueError(f"unknown key {', '.join(self.model_extra)}: a split `path` takes no strategy parameters")
        if self.strategy is not None:
            given = {k: v for k, v in self.params().items() if k not in ("folds", "fold")}
            checked, problems = param_problems(self.strategy, given)
            if problems:  # each at its own key: `split.test_users: ...`
                raise ValidationError.from_exception_data("split", [
                    InitErrorDetails(type=PydanticCustomError("split_param", why), loc=(key,), input=given[key])
                    for key, why in problems])
            self.__pydantic_extra__.update(checked)
        return self

    def params(self) -> dict[str, Any]:
        """The strategy's parameters the config sets."""
        return {k: v for k, v in (self.model_extra or {}).items() if v is not None}

    @property
    def count(self) -> int:
        """How many splits every model is scored on."""
        return self.folds or self.repeats

    def repeat(self, index: int, seed: int) -> tuple[dict[str, Any], int]:
        """(strategy params, seed) of split number `index` from the run's split seed `seed`
        (0: the plain split of `seed` when repeating; fold 0 with folds)."""
        from recsys_cli.evaluation.repeats import seeds_for_repeats

        if self.folds is not None:
            return {**self.params(), "folds": self.folds, "fold": index}, seed
        return self.params(), seeds_for_repeats(seed, self.repeats)[index]


class TuneBlock(Strict):
    trials: int = Field(30, ge=1, description="finished trials the study should reach")
    timeout: Optional[float] = Field(None, gt=0, description="seconds for this model's search")
    metric: str = Field("mrr@100", pattern=r"^[a-z_]+@[1-9][0-9]*$", description="metric@k to maximise")
    space: Optional[dict[str, SpaceEntry]] = None  # default: the model type's own space
    pruner: Literal["median", "hyperband", "none"] = "median"
    report_every: int = Field(5, ge=1, description="iterations between pruning reports")
    folds: int = Field(1, ge=1, le=20, description="seeded validation folds; the objective is their mean")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric):
        if metric.split("@")[0] not in selectable():
            raise ValueError(f"unknown metric {metric.split('@')[0]!r}; expected one of {', '.join(selectable())}")
        return metric


class ModelEntry(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    type: Literal[tuple(MODELS)]  # type: ignore[valid-type]
    params: dict[str, Any] = Field(default_factory=dict)
    filter_seen: Optional[bool] = None  # default: metrics.filter_seen
    use_weights: bool = False  # on a rated dataset, fit ranking models on the ratings' values
    tune: Union[bool, TuneBlock, None] = None  # true = the model type's default search

    def tune_block(self) -> "TuneBlock | None":
        if self.tune is True:
            return TuneBlock()
        return self.tune or None


class MetricsBlock(Strict):
    k: list[int] = Field(default_factory=lambda: [10, 100], min_length=1)
    # Checked against the metric registry when validated, so a registered metric is accepted.
    names: list[str] = Field(
        default_factory=lambda: ["mrr", "ndcg", "recall", "precision", "hit_rate", "coverage", "novelty"], min_length=1)
    filter_seen: bool = True

    @field_validator("k")
    @classmethod
    def _positive(cls, ks):
        if any(k < 1 for k in ks):
            raise ValueError("every K must be >= 1")
        return sorted(set(ks))

    @field_validator("names")
    @classmethod
    def _known_names(cls, names):
        unknown = [n for n in names if n not in selectable()]
        if unknown:
            raise ValueError(f"unknown metric {', '.join(map(repr, unknown))}; expected one of {', '.join(selectable())}")
        return names


class ExportBlock(Strict):
    recommendations: int = Field(100, ge=0, description="top-N per user; 0 = none")
    # Opt-in: similar items for every item is a catalogue x catalogue search (37 s of a 60 s
    # iALS run on a 104k-item catalogue), so a plain run does not pay for it.
    similar: int = Field(0, ge=0, description="similar items per item; 0 = none (the default)")
    users: Literal["test", "all"] = "test"


class CompareBlock(Strict):
    """`compare:` in an experiment file: `recsys run` ends with `recsys compare` on the run."""

    models: Optional[list[str]] = None
    k: int = Field(10, ge=1)
    anchors: int = Field(1000, ge=1)
    items: list[str] = Field(default_factory=list)
    item_names: list[str] = Field(default_factory=list)
    metric: Optional[str] = None
    seed: Optional[int] = None  # default: derived from the experiment's seed
    test: Literal["permutation", "t", "wilcoxon"] = "permutation"  # paired test of metric differences


class RayBlock(Strict):
    """`ray:` of an experiment with `backend: ray` (see backends/ray_backend.py)."""

    address: Optional[str] = None  # null: a local Ray for the run; auto: `ray start`'s; ray://host:10001
    num_cpus: Optional[int] = Field(None, ge=1, description="CPUs of the local Ray (null = all)")
    shard_users: int = Field(8192, ge=1, description="most users per evaluation / export task (blocks shrink "
                             "towards the end, see backends/ray_backend.py)")
    task_cpus: int = Field(1, ge=1, description="CPUs per evaluation / export task")
    trial_cpus: int = Field(1, ge=1, description="CPUs (and model threads) per tuning trial")
    parallel_trials: Optional[int] = Field(None, ge=1, description="trials at once (null = cluster CPUs / trial_cpus)")
    storage: Optional[str] = Field(None, description="Optuna RDB URL; default: a journal file under tune/")


class TrackingBlock(Strict):
    """`tracking: {mlflow: sqlite:///mlflow.db}`: each complete run logged as an MLflow run
    (stages/track.py); a tracker that is down never fails the run (`recsys runs track` logs it later)."""

    mlflow: str = Field(min_length=1, description="MLflow tracking URI (sqlite:///mlflow.db, http://host:5000, ...)")
    experiment: Optional[str] = Field(None, min_length=1, description="MLflow experiment (default: the config's name)")
    artifacts: Optional[str] = Field(None, min_length=1, description="artifact root of a new MLflow experiment "
                                     "(default: the tracking server's)")

    def absolute(self) -> "TrackingBlock":
        """The block with a relative SQLite file or folder resolved against the working
        directory, so `recsys runs track` finds the same store from anywhere."""
        return self.model_copy(update={"mlflow": _absolute_uri(self.mlflow),
                                       "artifacts": self.artifacts and _absolute_uri(self.artifacts)})


def _absolute_uri(uri: str) -> str:
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).absolute())
    if "://" not in uri and uri != "databricks":
        return str(Path(uri).absolute())
    return uri


class Experiment(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    dataset: Union[Path, IngestBlock]
    split: SplitBlock
    models: list[ModelEntry] = Field(min_length=1)
    metrics: MetricsBlock = Field(default_factory=MetricsBlock)
    export: ExportBlock = Field(default_factory=ExportBlock)
    compare: Optional[CompareBlock] = None
    seed: int = DEFAULT_SEED
    threads: int = Field(0, ge=0, description="0 = all cores")
    backend: Literal["local", "ray"] = "local"
    ray: RayBlock = Field(default_factory=RayBlock)
    # Conditions a run must meet (config/gate.py's grammar), e.g. "ials.mrr@100 >= baseline - 0.005".
    gate: list[str] = Field(default_factory=list)
    tracking: Optional[TrackingBlock] = None
    _source: Optional[Path] = PrivateAttr(default=None)  # the experiment file (set by load_experiment)
    _validated_params: dict = PrivateAttr(default_factory=dict)  # model name -> ((type, params), Params)

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models):
        names = [m.name for m in models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        return models

    @model_validator(mode="after")
    def _gate_names_what_the_run_has(self):
        from recsys_cli.config.gate import parse_condition

        problems = []
        models = {m.name for m in self.models}
        for index, text in enumerate(self.gate):
            try:
                condition = parse_condition(text)
            except ValueError as error:
                problems.append((index, str(error)))
                continue
            if condition.is_data:
                continue
            name, _, k = condition.measure.partition("@")
            if condition.model not in models:
                problems.append((index, f"no model named {condition.model!r}; the experiment has {', '.join(sorted(models))}"))
            elif name not in self.metrics.names or int(k) not in self.metrics.k:
                problems.append((index, f"{condition.measure} is not measured; metrics are "
                                        f"{', '.join(self.metrics.names)} at K {', '.join(map(str, self.metrics.k))}"))
        if problems:
            from pydantic_core import InitErrorDetails, PydanticCustomError

            raise ValidationError.from_exception_data("gate", [
                InitErrorDetails(type=PydanticCustomError("gate", why), loc=("gate", index), input=self.gate[index])
                for index, why in problems])
        return self

    def model_params(self, entry: ModelEntry):
        """The entry's parameters validated into its model type's Params, once per entry."""
        cached = self._validated_params.get(entry.name)
        if cached is None or cached[0] != (entry.type, entry.params):
            cached = (entry.type, entry.params), model_class(entry.type).Params.model_validate(entry.params)
            self._validated_params[entry.name] = cached
        return cached[1]

    def seeds(self) -> dict[str, int]:
        """Every seed the run uses: the experiment's, and each purpose's (set in the config
        or spawned from the experiment's; the validation split's from the split's)."""
        from recsys_cli.core.seeds import derived_seed, validation_seed

        dataset = (self.dataset.model_extra or {}) if isinstance(self.dataset, IngestBlock) else {}
        explicit = {"split": self.split.seed, "debug_slice": dataset.get("slice_seed"),
                    "compare": self.compare.seed if self.compare is not None else None}
        seeds = {"experiment": self.seed}
        for purpose in ("split", "debug_slice", "bootstrap", "compare"):
            given = explicit.get(purpose)
            seeds[purpose] = given if given is not None else derived_seed(self.seed, purpose)
        seeds["validation"] = validation_seed(seeds["split"])
        return seeds

    def dataset_dir(self) -> Path:
        if isinstance(self.dataset, IngestBlock):
            return self.dataset.out or Path("data") / self.name
        return self.dataset


def short_value(value: Any, limit: int = 80) -> str:
    """A value as shown in an error: one line, at most `limit` characters."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
