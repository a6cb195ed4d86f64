"""`recsys split DIR --strategy NAME [options] --out DIR/splits/NAME`.

The strategy options are the parameters the split-strategy registry declares
(data/split_strategies.py): one `--option` each, with its type and help, so a new strategy's
parameters appear here without touching this file."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.common import ForceOption, JsonOption, QuietOption, report_stage, status
from recsys_cli.core.seeds import DEFAULT_SEED
from recsys_cli.data.split_strategies import STRATEGIES, all_params


def _split(dataset: Path, strategy: str, out: Optional[Path], validation: bool, seed: int, force: bool,
           quiet: bool, as_json: bool, **params):
    """Split a dataset by one of the field's protocols.

    Example: recsys split data/demo --strategy leave-one-random --test-users 0.2 --validation
    """
    from recsys_cli.stages import split as split_stage

    with status(f"Splitting {dataset} ({strategy})...", quiet or as_json):
        result = split_stage.split(dataset, strategy, out, params, seed=seed, validation=validation, force=force)
    report_stage(result, "split", quiet, as_json, {
        name: f"{part['interactions']:,} interactions, {part['users']:,} users"
        for name, part in result.info["parts"].items()
    })


def _strategy_options() -> list[inspect.Parameter]:
    """One keyword option per declared strategy parameter, its help naming the strategies
    that take it."""
    options = []
    for name, param in all_params().items():
        by_help: dict[str, list[str]] = {}  # the same words for several strategies are said once
        for s in STRATEGIES.values():
            if (declared := s.param(name)) is not None:
                by_help.setdefault(declared.help, []).append(s.name)
        choices = f" ({' or '.join(param.choices)})" if param.choices else ""
        help_text = "; ".join(f"{', '.join(users)}: {text}" for text, users in by_help.items()) + f"{choices}."
        flag = "--" + name.replace("_", "-")
        options.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Optional[param.type], typer.Option(flag, help=help_text, show_default=False)]))
    return options


def _command():
    fixed = [
        inspect.Parameter("dataset", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[
            Path, typer.Argument(help="Dataset folder made by `recsys ingest`.")]),
        inspect.Parameter("strategy", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
            str, typer.Option(help=f"{', '.join(STRATEGIES)}.")]),
        inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Optional[Path], typer.Option("--out", "-o", help="Your name for the split: a link to the folder "
                                         "DATASET/splits/STRATEGY-HASH, named by the parameters (the folder `recsys run` "
                                         "uses for the same protocol), where the split is written.")]),
        inspect.Parameter("validation", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
            bool, typer.Option(help="Also carve valid_train/valid out of train with the same strategy, for tuning.")]),
        inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_SEED, annotation=Annotated[
            int, typer.Option(help="Random seed: the same seed gives identical files.")]),
        inspect.Parameter("force", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=ForceOption),
        inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=QuietOption),
        inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOption),
    ]
    options = _strategy_options()

    def split(**kwargs):
        params = {p.name: kwargs.pop(p.name) for p in options}
        _split(**kwargs, **{k: v for k, v in params.items() if v is not None})

    split.__doc__ = _split.__doc__
    split.__signature__ = inspect.Signature(fixed + options)
    return split


split = _command()
