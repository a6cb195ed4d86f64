"""Ozon's published layout (seed 003, `data/formats/ozon.py`): Parquet files without an
extension. `train_orders` / `test_orders` (user_id i32, product_id i64, date; test is the
last month), `user_actions_full_sample` (user_id i32, timestamp datetime, action_type,
widget_name, search_query, product_id f64 with nulls for searches, page_product_id f64:
views, clicks, carts and favourites around the orders, the orders themselves, searches) and
`product_information_full` (product_id, name, brand, type, category_id i32, category_name).
Dates are the synthetic year moved to 2024; products are reordered now and then."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.data.layouts.world import DAY, World, repeat_rows

YEARS_LATER = 731 * DAY  # 2022-01-01 -> 2024-01-01
TEST_FROM = date(2024, 12, 1)
WIDGETS = ["search_catalog_listing", "recoms_fresh_personal", "product_page", "cart"]
HOUR = 3_600


def product_id(item):
    return 100_000_007 + item * 104_729  # distinct, as large as Ozon's


def user_id(user):
    return 100 + user * 100


def write(world: World, target: Path) -> None:
    rng = world.rng("ozon")
    orders = repeat_rows(world.like_frame(), rng, mean_extra=0.3, spread_days=90)
    orders = orders.with_columns(pl.col("timestamp") + YEARS_LATER).sort("timestamp", maintain_order=True)
    dated = orders.select(pl.col("user").map_batches(user_id).cast(pl.Int32).alias("user_id"),
                          pl.col("item").map_batches(product_id).cast(pl.Int64).alias("product_id"),
                          pl.from_epoch("timestamp", time_unit="s").dt.date().alias("date"))
    dated.filter(pl.col("date") < TEST_FROM).write_parquet(target / "train_orders")
    dated.filter(pl.col("date") >= TEST_FROM).write_parquet(target / "test_orders")
    _actions(world, orders, rng).write_parquet(target / "user_actions_full_sample")
    _products(world, rng).write_parquet(target / "product_information_full")


def _actions(world: World, orders: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """The click stream around the orders: 1-2 views in the 3 days before each order, a
    cart an hour before 70% of them, a favourite for 5%, the order itself; browsing views of
    other products (1x the likes), a click for 30% of those, and searches without a product."""
    n = orders.height
    before = orders.with_columns(pl.col("timestamp") - pl.Series(rng.integers(HOUR, 3 * DAY, n)))
    browsing = world.other_pairs(rng, share=1.0).with_columns(pl.col("timestamp") + YEARS_LATER)
    parts = [
        orders.with_columns(action_type=pl.lit("order")),
        before.with_columns(action_type=pl.lit("view")),
        before.filter(pl.Series(rng.random(n) < 0.5)).with_columns(action_type=pl.lit("view")),
        orders.filter(pl.Series(rng.random(n) < 0.7)).with_columns(pl.col("timestamp") - HOUR,
                                                                    action_type=pl.lit("to_cart")),
        orders.filter(pl.Series(rng.random(n) < 0.05)).with_columns(action_type=pl.lit("favorite")),
        browsing.with_columns(action_type=pl.lit("view")),
        browsing.filter(pl.Series(rng.random(browsing.height) < 0.3)).with_columns(action_type=pl.lit("click")),
    ]
    actions = pl.concat(parts).with_columns(pl.col("item").map_batches(product_id).cast(pl.Float64))
    searches = orders.filter(pl.Series(rng.random(n) < 0.05))
    categories = pl.Series(world.categories)
    searches = searches.select(
        "user", pl.col("timestamp") - 2 * HOUR, action_type=pl.lit("search"),
        item=pl.lit(None, dtype=pl.Float64),
        search_query=categories.gather(world.likes.category_of_item[searches["item"].to_numpy()]).str.to_lowercase())
    actions = pl.concat([actions.with_columns(search_query=pl.lit(None, dtype=pl.String)), searches],
                        how="diagonal_relaxed")
    page = rng.integers(0, world.items, actions.height)
    on_page = rng.random(actions.height) < 0.1
    return actions.sort("timestamp", maintain_order=True).select(
        pl.col("user").map_batches(user_id).cast(pl.Int32).alias("user_id"),
        pl.from_epoch("timestamp", time_unit="s").cast(pl.Datetime("ns")).alias("timestamp"),
        "action_type",
        pl.Series("widget_name", np.array(WIDGETS)[rng.integers(0, len(WIDGETS), actions.height)]),
        "search_query",
        pl.col("item").alias("product_id"),
        pl.Series("page_product_id", np.where(on_page, product_id(page).astype(np.float64), np.nan))
        .fill_nan(None),
    )


def _products(world: World, rng: np.random.Generator) -> pl.DataFrame:
    items = world.likes.item_table
    category = world.likes.category_of_item
    brand = category * 10 + rng.integers(0, 10, world.items)
    return pl.DataFrame({
        "product_id": product_id(items["item_id"].to_numpy()).astype(np.int64),
        "name": items["name"],
        "brand": "Brand " + pl.Series(brand).cast(pl.String),
        "type": items["category"] + " goods",
        "category_id": category.astype(np.int32) + 1,
        "category_name": items["category"],
    })
