"""Experiment YAML -> validated, typed config. Errors name the file, the key path, the
offending value and what is allowed, and nothing runs (exit code 2).

Relative paths in the file are relative to the working directory, like the CLI's own paths
(run cron jobs from the project folder).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recsys_cli.data.sources import FORMATS
from recsys_cli.data.splits import STRATEGIES, strategy_params
from recsys_cli.errors import InputError
from recsys_cli.evaluation.metrics import ALL_METRICS
from recsys_cli.models.registry import MODELS, model_class

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
FILTER_KEYS = ("min_user_interactions", "min_item_interactions", "dedupe", "debug_slice", "slice_seed")


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
        return self

    def reader_options(self) -> dict[str, Any]:
        return {k: v for k, v in (self.model_extra or {}).items() if k not in FILTER_KEYS}

    def filters(self):
        from recsys_cli.data.filters import IngestFilters

        given = {k: v for k, v in (self.model_extra or {}).items() if k in FILTER_KEYS}
        if "debug_slice" in given:
            given["debug_slice"] = tuple(given["debug_slice"])
        if "slice_seed" in given:
            given["seed"] = given.pop("slice_seed")
        return IngestFilters(**given)


class SplitBlock(Strict):
    """`split: {strategy: leave-one-random, test_users: 0.2, seed: 42, validation: true}` or
    `split: {path: data/ml-1m/splits/s1}`."""

    path: Optional[Path] = None
    strategy: Optional[Literal[tuple(STRATEGIES)]] = None  # type: ignore[valid-type]
    seed: int = 42
    validation: bool = False
    test_users: Optional[float] = Field(None, gt=0, le=1)
    test_ratio: Optional[float] = Field(None, gt=0, lt=1)
    before: Optional[str] = None
    n: Optional[int] = Field(None, ge=1)
    fold_in: Optional[float] = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.strategy is None):
            raise ValueError("give either `strategy` (split now) or `path` (an existing split folder)")
        if self.strategy is not None:
            allowed = strategy_params(self.strategy)
            given = [k for k, v in self.params().items() if v is not None and k not in allowed]
            if given:
                raise ValueError(f"strategy {self.strategy!r} takes no {', '.join(given)}; "
                                 f"its options are {', '.join(allowed)}")
        return self

    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("test_users", "test_ratio", "before", "n", "fold_in")
                if getattr(self, k) is not None}


class SpaceEntry(Strict):
    """One tuned parameter: a numeric range (`low`, `high`, `log`, `type`) or `choices`."""

    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    type: Optional[Literal["int", "float"]] = None
    choices: Optional[list[Any]] = None

    @model_validator(mode="after")
    def _range_or_choices(self):
        if self.choices is not None:
            if self.low is not None or self.high is not None or not self.choices:
                raise ValueError("give either non-empty `choices` or `low` and `high`")
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError("give `low` <= `high` (or `choices`)")
        elif self.log and self.low <= 0:
            raise ValueError("a log range needs `low` > 0")
        return self


class TuneBlock(Strict):
    trials: int = Field(30, ge=1, description="finished trials the study should reach")
    timeout: Optional[float] = Field(None, gt=0, description="seconds for this model's search")
    metric: str = Field("mrr@100", pattern=r"^[a-z_]+@[1-9][0-9]*$", description="metric@k to maximise")
    space: Optional[dict[str, SpaceEntry]] = None  # default: the model type's own space
    pruner: Literal["median", "hyperband", "none"] = "median"
    report_every: int = Field(5, ge=1, description="iterations between pruning reports")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric):
        if metric.split("@")[0] not in ALL_METRICS:
            raise ValueError(f"unknown metric {metric.split('@')[0]!r}; expected one of {', '.join(ALL_METRICS)}")
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
    names: list[Literal[ALL_METRICS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["mrr", "ndcg", "recall", "precision", "hit_rate", "coverage", "novelty"], min_length=1)
    filter_seen: bool = True

    @field_validator("k")
    @classmethod
    def _positive(cls, ks):
        if any(k < 1 for k in ks):
            raise ValueError("every K must be >= 1")
        return sorted(set(ks))


class ExportBlock(Strict):
    recommendations: int = Field(100, ge=0, description="top-N per user; 0 = none")
    similar: int = Field(10, ge=0, description="similar items per item; 0 = none")
    users: Literal["test", "all"] = "test"


class CompareBlock(Strict):
    """`compare:` in an experiment file: `recsys run` ends with `recsys compare` on the run."""

    models: Optional[list[str]] = None
    k: int = Field(10, ge=1)
    anchors: int = Field(1000, ge=1)
    items: list[str] = Field(default_factory=list)
    item_names: list[str] = Field(default_factory=list)
    metric: Optional[str] = None


class Experiment(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    dataset: Union[Path, IngestBlock]
    split: SplitBlock
    models: list[ModelEntry] = Field(min_length=1)
    metrics: MetricsBlock = Field(default_factory=MetricsBlock)
    export: ExportBlock = Field(default_factory=ExportBlock)
    compare: Optional[CompareBlock] = None
    seed: int = 42
    threads: int = Field(0, ge=0, description="0 = all cores")

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models):
        names = [m.name for m in models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        return models

    def model_params(self, entry: ModelEntry):
        return model_class(entry.type).Params.model_validate(entry.params)

    def dataset_dir(self) -> Path:
        if isinstance(self.dataset, IngestBlock):
            return self.dataset.out or Path("data") / self.name
        return self.dataset


BLOCKS = {"split": SplitBlock, "metrics": MetricsBlock, "export": ExportBlock, "models": ModelEntry}


def _is_union_tag(part) -> bool:
    """pydantic's loc names union members with tags like 'function-after[...]'."""
    return isinstance(part, str) and ("[" in part or part in ("IngestBlock",))


def _location(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _is_union_tag(part):
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _allowed_keys(loc: tuple) -> list[str]:
    """The keys allowed where an unknown key was found."""
    owner = [p for p in loc[:-1] if not isinstance(p, int) and not _is_union_tag(p)]
    block = BLOCKS.get(owner[-1]) if owner else Experiment
    return list(block.model_fields) if block else []


def _describe(errors: list[dict], prefix: tuple = ()) -> list[str]:
    lines = []
    for error in errors:
        loc = prefix + tuple(error["loc"])
        value = error.get("input")
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(tuple(error["loc"])) if not prefix else []
            message = "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        else:
            message = error["msg"].removeprefix("Value error, ")
        shown = "" if error["type"] in ("missing", "extra_forbidden") or isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"  {_location(loc)}: {message}{shown}")
    return lines


def _dataset_errors(errors: list[dict]) -> list[dict]:
    """A dataset value fails both union members (a path, an ingest block); keep only the
    errors of the member the user wrote: the block if they wrote a mapping."""
    dataset = [e for e in errors if e["loc"] and e["loc"][0] == "dataset"]
    wrote_mapping = any(isinstance(e.get("input"), dict) for e in dataset)
    keep = [e for e in dataset if ("IngestBlock" in str(e["loc"][1:2])) == wrote_mapping] if len(dataset) > 1 else dataset
    return [e for e in errors if e not in dataset] + keep


def parse_experiment(raw: Any, source: str) -> Experiment:
    if not isinstance(raw, dict):
        raise InputError("expected a mapping of keys (name, dataset, split, models, ...)", path=source)
    try:
        experiment = Experiment.model_validate(raw)
    except ValidationError as error:
        lines = _describe(_dataset_errors(error.errors()))
        raise InputError("invalid experiment file:\n" + "\n".join(lines), path=source) from None
    lines = []
    for index, entry in enumerate(experiment.models):
        allowed = ", ".join(model_class(entry.type).Params.model_fields)
        try:
            experiment.model_params(entry)
        except ValidationError as error:
            lines += [f"{line}; {entry.type} parameters: {allowed}" if "unknown key" in line else line
                      for line in _describe(error.errors(), ("models", index, "params"))]
        lines += _space_errors(entry, index, allowed)
    if lines:
        raise InputError("invalid experiment file:\n" + "\n".join(lines), path=source)
    return experiment


def _space_errors(entry: ModelEntry, index: int, allowed: str) -> list[str]:
    """A tune space may only name the model's parameters, with values the model accepts."""
    block = entry.tune_block()
    if block is None:
        return []
    from recsys_cli.tuning import space_for

    where = f"  models[{index}].tune"
    try:
        space = space_for(entry.type, block.space)
    except ValueError as error:
        return [f"{where}.space: {error}; {entry.type} parameters: {allowed}"]
    if not space:
        return [f"{where}: {entry.type} has no parameters to tune"]
    params_cls = model_class(entry.type).Params
    lines = []
    from recsys_cli.tuning import is_integer_param

    for name, spec in space.items():
        for value in (spec.choices or [spec.low, spec.high]):
            value = int(value) if is_integer_param(params_cls, name, spec) else value
            try:
                params_cls.model_validate({**entry.params, name: value})
            except ValidationError as error:
                lines.append(f"{where}.space.{name}: {value!r} is not a valid {name} ({error.errors()[0]['msg']})")
    return lines


def load_experiment(path: str | Path) -> tuple[Experiment, dict]:
    """The validated experiment and the raw mapping (saved as the run's config.yaml)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such experiment file", path=path) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InputError(f"{where}not valid YAML ({getattr(error, 'problem', error)})", path=path) from None
    return parse_experiment(raw, str(path)), raw


def with_absolute_paths(experiment: Experiment) -> Experiment:
    """The experiment with every path resolved against the working directory, so the run
    folder's config.yaml still points at its data when read from anywhere else later."""
    dataset = experiment.dataset
    if isinstance(dataset, IngestBlock):
        dataset = dataset.model_copy(update={
            "path": dataset.path.absolute() if dataset.path is not None else None,
            "out": experiment.dataset_dir().absolute()})
    else:
        dataset = dataset.absolute()
    split = experiment.split
    if split.path is not None:
        split = split.model_copy(update={"path": split.path.absolute()})
    return experiment.model_copy(update={"dataset": dataset, "split": split})
