"""Cleaning applied to every source's event log before indexing (ingest's shared options)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from recsys_cli.core.errors import InputError
from recsys_cli.core.seeds import DEFAULT_SEED


INGEST_WEIGHTINGS = (None, "none", "binary", "log1p")


@dataclass(frozen=True)
class IngestFilters:
    min_user_interactions: int = 0
    min_item_interactions: int = 0
    dedupe: bool = False
    debug_slice: tuple[float, float] | None = None  # (item share, user share), fractions
    seed: int = DEFAULT_SEED
    aggregate: bool = False  # stream the log into (user, item) pairs (data/streaming.py)
    # How matrix.npz's values are weighted (models/weighting.py; applied by stages/ingest.py).
    # Only per-cell transforms: an item weighting (bm25, tfidf) of the whole matrix would carry
    # test interactions into the training weights, so those are model parameters instead.
    weighting: str | None = None
    weighting_eps: float = 1.0

    def __post_init__(self):
        if self.debug_slice is not None:
            for share in self.debug_slice:
                if not 0 < share <= 1:
                    raise InputError(
                        f"--debug-slice takes two fractions in (0, 1] (e.g. 0.03 0.03 for 3%), got {share}"
                    )
        if self.weighting not in INGEST_WEIGHTINGS:
            raise InputError(f"--weighting {self.weighting!r} is not an ingest weighting; expected one of "
                             f"{', '.join(w for w in INGEST_WEIGHTINGS if w)} (bm25 and tfidf are model parameters: "
                             "they use the whole matrix, so they are computed on train)")
        if self.weighting_eps <= 0:
            raise InputError(f"--weighting-eps must be > 0, got {self.weighting_eps}")
        for name in ("min_user_interactions", "min_item_interactions"):
            if getattr(self, name) < 0:
                raise InputError(f"--{name.replace('_', '-')} must be >= 0")

    def as_dict(self) -> dict:
        values = asdict(self)
        if self.weighting is None:  # so datasets ingested before weighting existed keep their fingerprint
            del values["weighting"], values["weighting_eps"]
        return values


def apply_filters(events: pl.DataFrame, filters: IngestFilters) -> tuple[pl.DataFrame, dict]:
    """Dedupe, debug slice, then the min-count filters iterated until stable."""
    stats: dict = {}
    if filters.dedupe:
        before = events.height
        events = dedupe(events)
        stats["duplicates_removed"] = before - events.height
    if filters.debug_slice is not None:
        events = debug_slice(events, *filters.debug_slice, seed=filters.seed)
    if filters.min_user_interactions or filters.min_item_interactions:
        events, rounds = min_count_filter(
            events, filters.min_user_interactions, filters.min_item_interactions
        )
        stats["min_count_filter_rounds"] = rounds
    return events, stats


def dedupe(events: pl.DataFrame) -> pl.DataFrame:
    """One event per (user, item): the earliest, with the largest weight seen for the pair."""
    return (
        events.with_row_index("_order")
        .group_by("user_id", "item_id")
        .agg(
            pl.col("weight").max(),
            pl.col("timestamp").min(),
            pl.col("_order").min(),
        )
        .sort("_order")
        .drop("_order")
        .select(events.columns)
    )


def debug_slice(events: pl.DataFrame, item_share: float, user_share: float, seed: int) -> pl.DataFrame:
    """Seed 001's build_debug_dataset: the top `item_share` of items by total weight and a
    seeded random `user_share` of users."""
    popularity = events.group_by("item_id").agg(pl.col("weight").sum().alias("w")).sort(
        ["w", "item_id"], descending=[True, False]
    )
    top_items = popularity.head(max(1, int(popularity.height * item_share)))["item_id"]
    users = events.select(pl.col("user_id").unique().sort())["user_id"].to_numpy()
    rng = np.random.default_rng(seed)
    chosen = rng.choice(users, size=max(1, int(len(users) * user_share)), replace=False)
    return events.filter(
        pl.col("item_id").is_in(top_items.implode()) & pl.col("user_id").is_in(pl.Series(chosen).implode())
    )


def min_count_filter(events: pl.DataFrame, min_user: int, min_item: int) -> tuple[pl.DataFrame, int]:
    """Drop users and items with fewer events than asked, repeating until nothing changes.
    Returns the kept events and the number of passes that removed something."""
    rounds = 0
    while True:
        keep = pl.lit(True)
        if min_user:
            keep &= pl.len().over("user_id") >= min_user
        if min_item:
            keep &= pl.len().over("item_id") >= min_item
        filtered = events.filter(keep)
        if filtered.height == events.height:
            return filtered, rounds
        events = filtered
        rounds += 1
