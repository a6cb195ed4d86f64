"""`recsys info DIR`: what is in a dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recsys_cli.cli.common import JsonOption, emit_json, key_value_table, out_console


def info(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder made by `recsys ingest`.")],
    as_json: JsonOption = False,
):
    """Users, items, interactions, density, activity and popularity quantiles, time range.

    Example: recsys info data/demo
    """
    from recsys_cli.data.dataset import Dataset
    from recsys_cli.data.stats import describe

    summary = describe(Dataset.open(dataset))
    if as_json:
        emit_json(summary)
    else:
        # A dataset without timestamps or item metadata has no such rows (JSON keeps them as null/[]).
        shown = {key: value for key, value in summary.items() if value is not None and value != []}
        out_console.print(key_value_table(f"dataset {dataset}", shown))
