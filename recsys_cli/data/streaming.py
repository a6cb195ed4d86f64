"""The dataset folder for logs larger than memory: stream the events into (user, item) pairs.

`build.py` holds one row per event in memory; a billion-row log (Yambda has 4.79 billion
events) does not fit. Here the raw log is only ever a lazy scan that polars' streaming
engine reduces, batch by batch, to one row per (user, item) pair with

    weight           the summed event weights (with --dedupe: the largest one)
    events           how many events the pair had
    timestamp        the first event's time (when the user met the item)
    last_timestamp   the last event's time

so peak memory is bounded by the number of pairs (the output: the CSR has one cell per
pair), not by the number of events. `events.parquet` then holds these pair rows, sorted by
(first time, user, item), with the same first four columns as a per-event dataset: splits
order a cell by its first event, so a temporal or leave-last-out split of a pair dataset
is the split of the raw log. dataset.json records `"events_table": "pairs"`.

The shared filters keep their meaning: the debug slice ranks items by total weight (sum of
pair weights) and the min-count filters count events (sum of `events`), iterated until stable.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.data.dataset_writer import Recipe, publish_dataset
from recsys_cli.data.filters import IngestFilters, debug_slice
from recsys_cli.data.tables import EVENT_COLUMNS, SourceTables
from recsys_cli.core.errors import InputError

PAIR_COLUMNS = ("user_idx", "item_idx", "weight", "timestamp", "events", "last_timestamp")


def aggregate_pairs(events: pl.LazyFrame, *, dedupe: bool = False) -> tuple[pl.DataFrame, dict]:
    """Stream `events` (user_id, item_id, weight, timestamp) into one row per pair.

    Returns the pairs and the counts of what was dropped on the way (null ids, zero weights).
    Two streaming passes: the group-by, and a three-column count of the raw rows.
    """
    schema = events.collect_schema()
    missing = [c for c in EVENT_COLUMNS if c not in schema]
    if missing:  # a reader bug, not bad input
        raise RuntimeError(f"reader produced no {missing} columns")
    kept = events.select(EVENT_COLUMNS).filter(
        pl.col("user_id").is_not_null() & pl.col("item_id").is_not_null() & (pl.col("weight") != 0)
    )
    pairs_query = kept.group_by("user_id", "item_id").agg(
        (pl.col("weight").max() if dedupe else pl.col("weight").sum()).cast(pl.Float32),
        pl.len().cast(pl.UInt32).alias("events"),
        pl.col("timestamp").min(),
        pl.col("timestamp").max().alias("last_timestamp"),
    )
    counts_query = events.select(
        pl.len().alias("source_rows"),
        (pl.col("user_id").is_null() | pl.col("item_id").is_null()).sum().alias("rows_with_null_id"),
        (pl.col("user_id").is_not_null() & pl.col("item_id").is_not_null() & (pl.col("weight") == 0))
        .sum().alias("zero_weight_events"),
        (pl.col("weight").is_null() | ~pl.col("weight").is_finite() | (pl.col("weight") < 0)).sum().alias("bad_weights"),
    )
    try:
        pairs = pairs_query.collect(engine="streaming")
        counts = counts_query.collect(engine="streaming").row(0, named=True)
    except pl.exceptions.PolarsError as error:
        raise InputError(f"could not read the events: {str(error).splitlines()[0]}") from error
    return pairs, {k: int(v) for k, v in counts.items()}


def filter_pairs(pairs: pl.DataFrame, filters: IngestFilters) -> tuple[pl.DataFrame, dict]:
    """The shared ingest filters over pairs, with the meaning they have over events."""
    stats: dict = {}
    if filters.dedupe:
        stats["duplicates_removed"] = int(pairs["events"].sum()) - pairs.height
        pairs = pairs.with_columns(pl.lit(1, dtype=pl.UInt32).alias("events"))
    if filters.debug_slice is not None:
        pairs = debug_slice(pairs, *filters.debug_slice, seed=filters.seed)
    if filters.min_user_interactions or filters.min_item_interactions:
        rounds = 0
        while True:
            keep = pl.lit(True)
            if filters.min_user_interactions:
                keep &= pl.col("events").sum().over("user_id") >= filters.min_user_interactions
            if filters.min_item_interactions:
                keep &= pl.col("events").sum().over("item_id") >= filters.min_item_interactions
            kept = pairs.filter(keep)
            if kept.height == pairs.height:
                break
            pairs, rounds = kept, rounds + 1
        stats["min_count_filter_rounds"] = rounds
    return pairs, stats


def pairs_to_csr(pairs: pl.DataFrame, shape: tuple[int, int]):
    """Unique (user_idx, item_idx, weight) rows, in any order -> float32 CSR."""
    import scipy.sparse as sp

    by_cell = pairs.select("user_idx", "item_idx", "weight").sort("user_idx", "item_idx")
    users = by_cell["user_idx"].to_numpy()
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix(
        (by_cell["weight"].to_numpy().astype(np.float32), by_cell["item_idx"].to_numpy().astype(np.int32), indptr),
        shape=shape,
    )


def _check_pairs(pairs: pl.DataFrame, read_stats: dict, where: str) -> None:
    """The streaming path's checks of build.py's: no missing, NaN, infinite or negative
    weight in the raw log (counted in the streaming pass; rows are not numbered, the log was
    never held as rows) and ids as exact identifiers (converted in place)."""
    from recsys_cli.data.ids import exact_ids

    bad = read_stats.pop("bad_weights")
    if bad:
        raise InputError(f"column weight: {bad:,} events have a missing, NaN, infinite or negative weight; "
                         "fix or drop these rows", path=where)
    for column in ("user_id", "item_id"):
        pairs.replace_column(pairs.get_column_index(column), exact_ids(pairs[column], f"{where}: id column {column}"))


def build_pair_dataset(tables: SourceTables, out: Path, recipe: Recipe) -> dict:
    """Stream, aggregate, index and write the dataset as a stored version; return dataset.json."""
    started = time.perf_counter()
    pairs, read_stats = aggregate_pairs(tables.events, dedupe=recipe.filters.dedupe)
    _check_pairs(pairs, read_stats, ", ".join(str(f) for f in tables.files) or recipe.fmt)
    # A pair whose weights cancel out (+1 and -1) is no interaction.
    pairs = pairs.filter(pl.col("weight") != 0)
    kept_events = int(pairs["events"].sum()) if pairs.height else 0
    pairs, filter_stats = filter_pairs(pairs, recipe.filters)
    if pairs.height == 0:
        raise InputError("no interactions left after reading and filtering; loosen the filters")

    users = pairs.select(pl.col("user_id").unique().sort()).with_row_index("user_idx")
    items = pairs.select(pl.col("item_id").unique().sort()).with_row_index("item_idx")
    indexed = (
        pairs.join(users, on="user_id", how="left")
        .join(items, on="item_id", how="left")
        .select(
            pl.col("user_idx").cast(pl.Int32),
            pl.col("item_idx").cast(pl.Int32),
            pl.col("weight").cast(pl.Float32),
            pl.col("timestamp").cast(pl.Int64),
            pl.col("events").cast(pl.Int32),
            pl.col("last_timestamp").cast(pl.Int64),
        )
        .sort(["timestamp", "user_idx", "item_idx"], nulls_last=True)
    )
    del pairs
    first, last = indexed["timestamp"].min(), indexed["last_timestamp"].max()
    return publish_dataset(
        out, tables, recipe, indexed, pairs_to_csr(indexed, (users.height, items.height)), users, items,
        counts={"events": int(indexed["events"].sum()), **read_stats, "events_read": kept_events, **filter_stats},
        time_range=[int(first), int(last)] if first is not None else None,
        started=started, extra={"events_table": "pairs"})
