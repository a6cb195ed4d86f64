"""Experiment YAML -> validated, typed config. Errors name the file, the key path, the
offending value and what is allowed, all of a file's errors at once, and nothing runs
(exit code 2).

Relative paths in the file are relative to the working directory, like the CLI's own paths
(run cron jobs from the project folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recsys_cli.config.blocks import (
    ExportBlock, Experiment, IngestBlock, MetricsBlock, ModelEntry, RayBlock, SplitBlock, TrackingBlock, short_value)
from recsys_cli.core.errors import InputError
from recsys_cli.data.split_strategies import time_strategies
from recsys_cli.models.registry import model_class
from recsys_cli.tuning.space import is_integer_param, space_for

BLOCKS = {"ray": RayBlock, "split": SplitBlock, "metrics": MetricsBlock, "export": ExportBlock, "models": ModelEntry,
          "tracking": TrackingBlock}


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
        shown = "" if error["type"] in ("missing", "extra_forbidden") or isinstance(value, dict) else f" (got {short_value(value)})"
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
        # Every error at once: the model entries that are valid on their own still get their
        # parameters and tune spaces checked, so a typo in one entry hides none in another.
        lines = _describe(_dataset_errors(error.errors()))
        for index, entry in _valid_entries(raw.get("models")):
            lines += _entry_errors(entry, index)
        raise InputError("invalid experiment file:\n" + "\n".join(lines), path=source) from None
    lines = []
    for index, entry in enumerate(experiment.models):
        lines += _entry_errors(entry, index, experiment)
        block = entry.tune_block()
        if block is not None and block.folds > 1 and experiment.split.strategy in time_strategies():
            lines.append(f"  models[{index}].tune.folds: {block.folds} needs a random split strategy; "
                         f"{experiment.split.strategy!r} validation is the same whatever the seed (use folds: 1)")
    if lines:
        raise InputError("invalid experiment file:\n" + "\n".join(lines), path=source)
    return experiment


def _valid_entries(models: Any) -> list[tuple[int, ModelEntry]]:
    """The entries of a raw `models:` list that validate as model entries on their own."""
    valid = []
    for index, raw in enumerate(models if isinstance(models, list) else []):
        try:
            valid.append((index, ModelEntry.model_validate(raw)))
        except ValidationError:
            continue  # already reported by the whole file's validation
    return valid


def _entry_errors(entry: ModelEntry, index: int, experiment: Experiment | None = None) -> list[str]:
    """A model entry's parameters and tune space, against what its model type accepts. With
    the `experiment`, the validated parameters are kept there (validated once)."""
    allowed = ", ".join(model_class(entry.type).Params.model_fields)
    lines = []
    try:
        if experiment is not None:
            experiment.model_params(entry)
        else:
            model_class(entry.type).Params.model_validate(entry.params)
    except ValidationError as error:
        lines += [f"{line}; {entry.type} parameters: {allowed}" if "unknown key" in line else line
                  for line in _describe(error.errors(), ("models", index, "params"))]
    return lines + _space_errors(entry, index, allowed)


def _space_errors(entry: ModelEntry, index: int, allowed: str) -> list[str]:
    """A tune space may only name the model's parameters, with values the model accepts."""
    block = entry.tune_block()
    if block is None:
        return []
    where = f"  models[{index}].tune"
    try:
        space = space_for(entry.type, block.space)
    except ValueError as error:
        return [f"{where}.space: {error}; {entry.type} parameters: {allowed}"]
    if not space:
        return [f"{where}: {entry.type} has no parameters to tune"]
    params_cls = model_class(entry.type).Params
    lines = []
    for name, spec in space.items():
        for value in (spec.choices or [spec.low, spec.high]):
            try:
                value = int(value) if is_integer_param(params_cls, name, spec) else value
            except (TypeError, ValueError):
                lines.append(f"{where}.space.{name}: choice {short_value(value)} is not a number")
                continue
            try:
                params_cls.model_validate({**entry.params, name: value})
            except ValidationError as error:
                lines.append(f"{where}.space.{name}: {value!r} is not a valid {name} ({error.errors()[0]['msg']})")
    return lines


def load_experiment(path: str | Path) -> tuple[Experiment, dict]:
    """The validated experiment and the raw mapping (saved as the run's config.yaml)."""
    from recsys_cli.core.yaml_file import load_yaml

    path = Path(path)
    raw = load_yaml(path)  # duplicate keys, alias bombs, non-UTF-8: refused there
    experiment = parse_experiment(raw, str(path))
    experiment._source = path.absolute()
    return experiment, raw


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
    tracking = experiment.tracking and experiment.tracking.absolute()
    return experiment.model_copy(update={"dataset": dataset, "split": split, "tracking": tracking})


def with_gates(experiment: Experiment, gates: list[str], source: str | Path) -> Experiment:
    """The experiment with `gates` (the command line's `--gate`) added to its `gate:`
    conditions, validated like the file's own (a bad one names `--gate`)."""
    raw = experiment.model_dump(mode="json")
    raw["gate"] = [*raw.get("gate", []), *gates]
    try:
        gated = parse_experiment(raw, f"{source} with --gate")
    except InputError as error:
        raise InputError(str(error)) from None
    gated._source = experiment._source
    return gated
