"""Anchor items named on the command line (`recsys similar`, `recsys compare --item`): ids or
names -> item indices. Its own module so that `recsys similar` imports nothing of compare's."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys_cli.core.errors import InputError


def resolve_anchor_items(items: pl.DataFrame, ids: list[str], names: list[str]) -> np.ndarray:
    """--item (original ids) and --item-name (case-insensitive; an exact title wins, else a
    unique substring) -> item indices. Ambiguous or unknown names are bad input, listing matches."""
    chosen = []
    id_text = items["item_id"].cast(pl.String)
    for value in ids:
        hit = items.filter(id_text == str(value))
        if hit.height == 0:
            raise InputError(f"--item {value}: no such item id in the dataset")
        chosen.append(int(hit["item_idx"][0]))
    for query in names:
        if "name" not in items.columns:
            raise InputError("--item-name: this dataset has no item names")
        lowered = items["name"].str.to_lowercase()
        exact = items.filter(lowered == query.lower())
        matches = exact if exact.height else items.filter(lowered.str.contains(query.lower(), literal=True))
        if matches.height != 1:
            listed = "; ".join(f"{r['item_id']}: {r['name']}" for r in matches.head(10).iter_rows(named=True))
            reason = "matches no item" if matches.height == 0 else f"is ambiguous ({matches.height} matches: {listed})"
            raise InputError(f"--item-name {query!r} {reason}; use --item ID or a longer name")
        chosen.append(int(matches["item_idx"][0]))
    return np.array(chosen, dtype=np.int32)
