"""Model hyperparameter classes that are built on first use, and a saved model's parameters
read without them.

A model's `Params` is a pydantic model (defaults, ranges, types: what the config validator
and the tuner read). Importing pydantic and building its classes costs about as much as a
whole query's work, and a query needs neither: it loads a model whose parameters were
validated when it was trained and whose files its store has just checksummed. So a model
module declares its Params as a function that imports pydantic and returns the class, under
`@params_class`; the class is built the first time anything reads it (validation, tuning,
the report), once.

    @params_class
    def EASEParams():
        from pydantic import Field

        class EASEParams(StrictParams.build()):
            l2: float = Field(500.0, gt=0)
        return EASEParams

    class EASE(ItemWeightsModel):
        Params = EASEParams        # EASE.Params is the pydantic class, built here on first read
"""

from __future__ import annotations

import functools
from typing import Callable

PLAIN = (str, int, float, bool, type(None))


class LazyParams:
    """The pydantic class `build()` returns, built once on first read. As a model class's
    `Params` attribute it reads as that class; at module level `.build()` gives it (e.g. as
    the base of another Params class)."""

    def __init__(self, build: Callable[[], type]):
        self.build = functools.cache(build)
        functools.update_wrapper(self, build)

    def __get__(self, instance, owner) -> type:
        return self.build()


def params_class(build: Callable[[], type]) -> LazyParams:
    """Decorator: a model module's Params, built by `build` on first read (the module docstring)."""
    return LazyParams(build)


@params_class
def StrictParams():
    """The base of every model's Params: a name the class does not declare (a typo in an
    experiment file) is refused, not ignored. Also the Params of a model without any."""
    from pydantic import BaseModel, ConfigDict

    class StrictParams(BaseModel):
        model_config = ConfigDict(extra="forbid")

    return StrictParams


class SavedParams:
    """A saved model's parameters as its params.json holds them, read without building the
    model's Params class: a scalar parameter is the value stored (the JSON of a validated
    model's dump gives back the same Python types), anything else — a nested spec, a missing
    name, `model_dump()` — comes from validating them, which builds the class then."""

    def __init__(self, values: dict, params: Callable[[], type]):
        self._values = values
        self._params = params
        self._validated = None

    def validated(self):
        if self._validated is None:
            self._validated = self._params().model_validate(self._values)
        return self._validated

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        value = self._values.get(name)
        if name in self._values and isinstance(value, PLAIN):
            return value
        return getattr(self.validated(), name)

    def model_dump(self) -> dict:
        return self.validated().model_dump()
