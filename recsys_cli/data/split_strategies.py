"""The split-strategy registry: each strategy's labelling function (data/splits.py) with its
parameters declared once — type, default, bounds, help — so the config's `split:` block,
`recsys split`'s options, the docs' table and the errors all read them from here.

Adding a strategy is one function `(cells, rng, **params) -> labels` and one
`register(SplitStrategy(...))` line (docs/architecture.md has a worked example).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from recsys_cli.core.errors import InputError
from recsys_cli.data.time_text import parse_date, parse_window

if TYPE_CHECKING:
    import numpy as np

    from recsys_cli.data.splits import Cells


@dataclass(frozen=True)
class StrategyParam:
    """One parameter of a strategy: its type, default, bounds (pydantic Field keywords:
    gt, ge, lt, le), allowed values and help text."""

    name: str
    type: type
    default: Any
    help: str
    bounds: tuple[tuple[str, float], ...] = ()
    choices: tuple[str, ...] = ()
    parse: Callable[[Any], Any] | None = None  # a further check of the text (a date, a window)

    def validate(self, value: Any) -> Any:
        """The value converted to the parameter's type, or ValueError naming what was expected."""
        from typing import Literal

        from pydantic import Field, TypeAdapter, ValidationError
        from typing_extensions import Annotated

        kind = Literal[self.choices] if self.choices else self.type
        try:
            value = TypeAdapter(Annotated[kind, Field(**dict(self.bounds))]).validate_python(value)
        except ValidationError as error:
            raise ValueError(f"{self.name}: {error.errors()[0]['msg']} (got {value!r})") from None
        if self.parse is not None:
            try:
                self.parse(value)
            except InputError as error:
                raise ValueError(str(error)) from None
        return value


@dataclass(frozen=True)
class SplitStrategy:
    """A strategy: its labelling function `(cells, rng, **params) -> a label per cell`,
    named "module:function" and imported on use (so reading the registry — `recsys --help`,
    config validation — imports no numpy), and its declared parameters."""

    name: str
    function: str
    params: tuple[StrategyParam, ...]
    description: str
    needs_time: bool = False  # reads events.parquet's timestamps
    user_folds: bool = False  # partitions the test users into `split: {folds: F}`

    def defaults(self) -> dict[str, Any]:
        """The parameters with their defaults (and the fold parameters `folds` sets)."""
        out = {p.name: p.default for p in self.params}
        return {**out, "folds": None, "fold": 0} if self.user_folds else out

    def param(self, name: str) -> StrategyParam | None:
        return next((p for p in self.params if p.name == name), None)

    def labeller(self):
        module, name = self.function.split(":")
        return getattr(importlib.import_module(module), name)


STRATEGIES: dict[str, SplitStrategy] = {}


def register(strategy: SplitStrategy) -> SplitStrategy:
    STRATEGIES[strategy.name] = strategy
    return strategy


SHARE = (("gt", 0), ("lt", 1))
TEST_USERS_HELP = "share of users holding out test interactions"
for _strategy in (
    SplitStrategy("leave-one-random", "recsys_cli.data.splits:leave_one_random", (
        StrategyParam("test_users", float, 0.2, TEST_USERS_HELP + " (1: every user with 2+)", (("gt", 0), ("le", 1))),),
        "seeds 000/001: a share of users each lose one random interaction to test", user_folds=True),
    SplitStrategy("random-holdout", "recsys_cli.data.splits:random_holdout", (
        StrategyParam("test_ratio", float, 0.2, "share of all interactions held out", SHARE),),
        "a seeded share of all interactions, drawn uniformly"),
    SplitStrategy("temporal", "recsys_cli.data.splits:temporal", (
        StrategyParam("before", str, None, "cut-off date: train is strictly before it (e.g. 2022-12-16)",
                      parse=parse_date),
        StrategyParam("test_ratio", float, None, "the last share of interactions by time", SHARE),
        StrategyParam("last", str, None, "a window before the data's last timestamp (7d, 12h, 2w): rolling, "
                                         "for nightly runs", parse=parse_window)),
        "seed 004: a global time cut-off (exactly one of before, test_ratio, last); test users with no "
        "train history go to a cold part", needs_time=True),
    SplitStrategy("leave-last-out", "recsys_cli.data.splits:leave_last_out", (
        StrategyParam("n", int, 1, "the last N interactions of each user", (("ge", 1),)),
        StrategyParam("ties", str, "arbitrary", "timestamp ties at the cut: 'arbitrary' holds out exactly N (log "
                                                "order breaks ties), 'all' every item at the last timestamp",
                      choices=("arbitrary", "all"))),
        "the last N interactions of each user by time", needs_time=True),
    SplitStrategy("user-holdout", "recsys_cli.data.splits:user_holdout", (
        StrategyParam("test_users", float, 0.2, TEST_USERS_HELP, SHARE),
        StrategyParam("fold_in", float, 0.8, "share of a held-out user's history given as input", SHARE)),
        "strong generalisation: held-out users are absent from train; part of their history is the input",
        user_folds=True),
):
    register(_strategy)


def strategy(name: str) -> SplitStrategy:
    if name not in STRATEGIES:
        raise InputError(f"unknown split strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def strategy_params(name: str) -> dict[str, object]:
    """The parameters a strategy takes, with their defaults."""
    return strategy(name).defaults()


def time_strategies() -> set[str]:
    return {name for name, s in STRATEGIES.items() if s.needs_time}


def fold_strategies() -> set[str]:
    return {name for name, s in STRATEGIES.items() if s.user_folds}


def all_params() -> dict[str, StrategyParam]:
    """Every parameter any strategy declares, by name (the first declaration's type and help)."""
    out: dict[str, StrategyParam] = {}
    for s in STRATEGIES.values():
        for p in s.params:
            out.setdefault(p.name, p)
    return out


def param_problems(name: str, params: dict) -> tuple[dict, list[tuple[str, str]]]:
    """`params` validated against the strategy's declarations: (the converted values, and a
    (key, what is wrong) pair for every unknown or invalid one)."""
    chosen = strategy(name)
    allowed = chosen.defaults()
    options = ", ".join(p.name for p in chosen.params) or "none"
    problems, out = [], {}
    for key, value in params.items():
        declared = chosen.param(key)
        if key not in allowed:
            problems.append((key, f"unknown key; strategy {name!r} takes {options}"))
            continue
        try:
            out[key] = declared.validate(value) if declared is not None and value is not None else value
        except ValueError as error:
            problems.append((key, str(error).removeprefix(f"{key}: ")))
    return out, problems


def check_params(name: str, params: dict) -> dict:
    """`params` validated against the strategy's declarations; InputError naming every problem."""
    out, problems = param_problems(name, params)
    if problems:
        raise InputError("split: " + "; ".join(f"{key}: {why}" for key, why in problems))
    return out


def assign(cells: Cells, name: str, params: dict, seed: int) -> np.ndarray:
    """Label every cell for strategy `name`; refuse unknown parameters and an empty test part."""
    params = check_params(name, params)
    import numpy as np

    from recsys_cli.data.splits import TEST, TEST_COLD

    labels = strategy(name).labeller()(cells, np.random.default_rng(seed), **params)
    if not np.any((labels == TEST) | (labels == TEST_COLD)):
        raise InputError(
            f"split {name!r} with {params or 'default options'} leaves no test interactions "
            f"({len(cells.users)} interactions, {np.count_nonzero(np.bincount(cells.users))} users); "
            "check the options or the dataset's size"
        )
    return labels


def notes(cells: Cells, name: str, params: dict) -> dict:
    """What split.json should say about how the strategy resolved ambiguous cases."""
    if name != "leave-last-out":
        return {}
    n, ties = params.get("n", 1), params.get("ties", "arbitrary")
    rule = ("exactly n items held out per user; within a timestamp tie at the cut, the item whose first event comes "
            "later in events.parquet (log order) is held out — deterministic, but arbitrary among the tied items"
            if ties == "arbitrary" else
            "every item at or after the user's n-th last timestamp is held out (users whose items all tie there stay in train)")
    from recsys_cli.data.splits import tie_counts

    return {"ties": {"mode": ties, "rule": rule, **tie_counts(cells, n)}}


def validation_params(name: str, params: dict, labels: np.ndarray | None) -> dict:
    """Parameters that carve validation out of train 'with the same strategy'. A fixed
    date would leave train with no test, so temporal validation cuts the same share by time;
    a rolling window (`last`) is the same window before train's own last timestamp.
    Leave-one-random validates on every train user with two or more interactions, not a
    share of them: a fifth of the users makes a noisy objective for tuning. The user folds
    of `split: {folds: F}` (`folds`, `fold`) partition the test users of the outer split;
    the validation part carved from one fold's train is not a fold of it."""
    params = {k: v for k, v in params.items() if k not in ("folds", "fold")}
    if name == "temporal" and params.get("before") is not None:
        import numpy as np

        from recsys_cli.data.splits import TRAIN

        share = np.count_nonzero(labels != TRAIN) / len(labels)
        return {"test_ratio": float(min(max(share, 1e-6), 0.5))}
    if name == "leave-one-random":
        return {**params, "test_users": 1.0}
    return dict(params)
