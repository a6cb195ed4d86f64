"""`recsys split DIR --strategy NAME [options] --out DIR/splits/NAME`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.common import ForceOption, JsonOption, QuietOption, report_stage, status
from recsys_cli.core.seeds import DEFAULT_SEED

STRATEGY_HELP = "leave-one-random, random-holdout, temporal, leave-last-out or user-holdout."


def split(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder made by `recsys ingest`.")],
    strategy: Annotated[str, typer.Option(help=STRATEGY_HELP)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Your name for the split: a link to the folder DATASET/splits/STRATEGY-HASH, named by the parameters (the folder `recsys run` uses for the same protocol), where the split is written.")] = None,
    test_users: Annotated[Optional[float], typer.Option(help="Share of users held out (leave-one-random 0.2, user-holdout 0.2).")] = None,
    test_ratio: Annotated[Optional[float], typer.Option(help="Share of interactions held out (random-holdout; temporal by time).")] = None,
    before: Annotated[Optional[str], typer.Option(help="Temporal cut-off date: train is strictly before it (e.g. 2022-12-16).")] = None,
    n: Annotated[Optional[int], typer.Option("--n", help="leave-last-out: the last N interactions of each user.")] = None,
    fold_in: Annotated[Optional[float], typer.Option(help="user-holdout: share of a held-out user's history given as input (0.8).")] = None,
    ties: Annotated[Optional[str], typer.Option(help="leave-last-out: 'arbitrary' (exactly N, log order breaks timestamp ties) or 'all' (every item at the last timestamp).")] = None,
    validation: Annotated[bool, typer.Option(help="Also carve valid_train/valid out of train with the same strategy, for tuning.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives identical files.")] = DEFAULT_SEED,
    force: ForceOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
):
    """Split a dataset by one of the field's protocols.

    Example: recsys split data/demo --strategy leave-one-random --test-users 0.2 --validation
    """
    from recsys_cli.stages import split as split_stage

    params = {"test_users": test_users, "test_ratio": test_ratio, "before": before, "n": n, "fold_in": fold_in, "ties": ties}
    with status(f"Splitting {dataset} ({strategy})...", quiet or as_json):
        result = split_stage.split(dataset, strategy, out, params, seed=seed, validation=validation, force=force)
    report_stage(result, "split", quiet, as_json, {
        name: f"{part['interactions']:,} interactions, {part['users']:,} users"
        for name, part in result.info["parts"].items()
    })
