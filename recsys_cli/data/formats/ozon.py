"""Ozon orders and actions (seed 003). PATH is the folder of Parquet files (extension optional).

- `train_orders`, `test_orders`: user_id i32, product_id i64, date -> events dated by `date`.
- `user_actions_*`: user_id, timestamp, action_type (view/to_cart/search/click/order/favorite),
  widget_name, search_query, product_id (float64 with nulls), page_product_id -> events with
  a weight per action type. Rows without a product (searches, mostly) and action types whose
  weight is 0 are dropped and counted in dataset.json.
- `product_information_full`: product_id, name, brand, type, category_id, category_name.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys_cli.data.tables import (
    SourceTables,
    checked_integer_id,
    checked_time,
    collect,
    ensure_integer_ids,
    require_columns,
    scan_parquet,
)
from recsys_cli.core.errors import InputError

ACTION_WEIGHTS = {"order": 5.0, "to_cart": 3.0, "favorite": 2.0, "click": 1.0, "view": 0.5, "search": 0.0}
PARTS = ("orders", "actions")


def read(
    path: Path,
    include: tuple[str, ...] = PARTS,
    action_weights: dict[str, float] | None = None,
) -> SourceTables:
    folder = Path(path)
    if not folder.is_dir():
        raise InputError("expected the Ozon data folder", path=folder)
    unknown = sorted(set(include) - set(PARTS))
    if unknown:
        raise InputError(f"unknown part(s) {unknown}; expected some of {list(PARTS)}")
    weights = {**ACTION_WEIGHTS, **(action_weights or {})}
    parts, files, stats = [], [], {}
    if "orders" in include:
        for name in ("train_orders", "test_orders"):
            file = _find(folder, name)
            if file is not None:
                parts.append(_orders(file, weights["order"]))
                files.append(file)
    if "actions" in include:
        for file in sorted(p for p in folder.iterdir() if p.name.startswith("user_actions")):
            frame, dropped = _actions(file, weights)
            parts.append(frame)
            files.append(file)
            for key, count in dropped.items():
                stats[key] = stats.get(key, 0) + count
    if not parts:
        raise InputError(
            f"no Ozon {' or '.join(include)} files found; expected train_orders, test_orders "
            "or user_actions_* (Parquet, with or without an extension)",
            path=folder,
        )
    items = None
    product_file = _find(folder, "product_information_full")
    if product_file is not None:
        files.append(product_file)
        products = collect(scan_parquet(product_file), product_file)
        require_columns(products.columns, ["product_id"], product_file)
        items = ensure_integer_ids(products, "product_id", product_file).rename({"product_id": "item_id"})
        items = items.unique("item_id", keep="first")
    return SourceTables(events=pl.concat(parts, how="vertical"), items=items, files=files, stats=stats)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.parquet", folder / f"{stem}.pq"):
        if candidate.is_file():
            return candidate
    return None


def _orders(file: Path, weight: float) -> pl.LazyFrame:
    frame = scan_parquet(file)
    require_columns(frame.collect_schema().names(), ["user_id", "product_id", "date"], file)
    return frame.select(
        checked_integer_id(frame, "user_id", file).alias("user_id"),
        checked_integer_id(frame, "product_id", file).alias("item_id"),
        pl.lit(weight, dtype=pl.Float32).alias("weight"),
        checked_time(frame, "date", file).alias("timestamp"),
    )


def _actions(file: Path, weights: dict[str, float]) -> tuple[pl.LazyFrame, dict[str, int]]:
    frame = scan_parquet(file)
    require_columns(
        frame.collect_schema().names(), ["user_id", "timestamp", "action_type", "product_id"], file
    )
    types = collect(frame.select(pl.col("action_type").unique()), file)["action_type"].to_list()
    unknown = sorted(str(t) for t in types if t not in weights)
    if unknown:
        raise InputError(
            f"column 'action_type' has {unknown}, which have no weight; expected one of "
            f"{sorted(weights)} (set one with --action-weight TYPE=W)",
            path=file,
        )
    counts = collect(
        frame.select(
            pl.col("product_id").is_null().sum().alias("no_product"),
            (pl.col("product_id").is_not_null() & (pl.col("action_type").replace_strict(weights, default=0.0) <= 0))
            .sum()
            .alias("zero_weight"),
        ),
        file,
    ).row(0, named=True)
    events = frame.filter(pl.col("product_id").is_not_null()).select(
        checked_integer_id(frame, "user_id", file).alias("user_id"),
        checked_integer_id(frame, "product_id", file).alias("item_id"),
        pl.col("action_type").replace_strict(weights, default=0.0, return_dtype=pl.Float32).alias("weight"),
        checked_time(frame, "timestamp", file).alias("timestamp"),
    ).filter(pl.col("weight") > 0)
    return events, {
        "action_rows_without_product": int(counts["no_product"]),
        "action_rows_with_zero_weight": int(counts["zero_weight"]),
    }
