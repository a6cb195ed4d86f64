"""Tune search spaces: the type of one searched parameter and the checks on a space.

Its own module so that the config (which validates `tune.space` blocks) and the tuner (which
samples them) both import it and not each other.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, model_validator

from recsys_cli.models.registry import model_class


class SpaceEntry(BaseModel):
    """One tuned parameter: a numeric range (`low`, `high`, `log`, `type`) or `choices`."""

    model_config = ConfigDict(extra="forbid")
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


def space_for(model_type: str, custom: dict | None):
    """The search space: the config's, checked against the model's parameters, or the
    model type's default."""
    cls = model_class(model_type)
    if custom is None:
        return {name: SpaceEntry(**spec) for name, spec in cls.tune_space.items()}
    unknown = sorted(set(custom) - set(cls.Params.model_fields))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}")
    return dict(custom)


def is_integer_param(params_cls, name: str, spec) -> bool:
    """`type: int` in the space, or else the model declares the parameter as an int."""
    if spec.type is not None:
        return spec.type == "int"
    return params_cls.model_fields[name].annotation is int
