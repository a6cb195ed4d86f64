"""Dzen (Yandex Zen) article likes, seed 001.

Two published layouts, PATH being the folder:
- `zen_ratings.csv` (`user_id,item_ids`, item_ids a Python-list string "[15267, 61075]",
  one row per user) + `zen_item_to_name.csv` (`id,name`) + `zen_item_to_source.csv`
  (`id,source`: the author, a signed 64-bit int).
- `zen_dataset/user_ratings.gz` (`userId,trainRatings`, trainRatings a dict string with
  single quotes "{'123': 1, ...}") + `item_meta.gz` (`itemId,title,...`) + `item_counts.csv`.

Likes carry no time, so the dataset has no timestamps (temporal splits are refused).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys_cli.data.tables import (
    SourceTables,
    ensure_integer_ids,
    first_existing,
    read_csv,
    require_columns,
)
from recsys_cli.core.errors import InputError

LIST_OF_INTS = r"^\s*\[\s*(-?\d+\s*(,\s*-?\d+\s*)*)?\]\s*$"
DICT_ENTRY = r"""^\s*['"]?(-?\d+)['"]?\s*:\s*(-?[0-9.eE+-]+)\s*$"""


def read(path: Path) -> SourceTables:
    folder = Path(path)
    if not folder.is_dir():
        raise InputError("expected the Dzen dataset folder", path=folder)
    ratings = first_existing(folder, ["zen_ratings.csv"])
    if ratings is not None:
        return _read_lists_layout(folder, ratings)
    for base in (folder, folder / "zen_dataset"):
        user_ratings = first_existing(base, ["user_ratings.gz", "user_ratings.csv"])
        if user_ratings is not None:
            return _read_dict_layout(base, user_ratings)
    raise InputError(
        "no Dzen ratings found; expected zen_ratings.csv or zen_dataset/user_ratings.gz",
        path=folder,
    )


def _read_lists_layout(folder: Path, ratings_path: Path) -> SourceTables:
    users = read_csv(ratings_path, ratings_path, infer_schema=False)
    require_columns(users.columns, ["user_id", "item_ids"], ratings_path)
    _report_first_mismatch(users, "item_ids", LIST_OF_INTS, ratings_path, "a list like [15267, 61075]")
    users = ensure_integer_ids(users.select("user_id", "item_ids"), "user_id", ratings_path)
    events = users.lazy().select(
        "user_id",
        pl.col("item_ids").str.extract_all(r"-?\d+").alias("item_id"),
    ).explode("item_id").drop_nulls("item_id").select(
        "user_id",
        pl.col("item_id").cast(pl.Int64),
        pl.lit(1.0, dtype=pl.Float32).alias("weight"),
        pl.lit(None, dtype=pl.Int64).alias("timestamp"),
    )
    name_path = first_existing(folder, ["zen_item_to_name.csv"])
    source_path = first_existing(folder, ["zen_item_to_source.csv"])
    items = _join_metadata([(name_path, "name"), (source_path, "source")])
    files = [p for p in (ratings_path, name_path, source_path) if p is not None]
    return SourceTables(events=events, items=items, files=files, stats={"users_in_source": users.height})


def _join_metadata(sources: list[tuple[Path | None, str]]) -> pl.DataFrame | None:
    items = None
    for path, column in sources:
        if path is None:
            continue
        table = read_csv(path, path, infer_schema=False)
        require_columns(table.columns, ["id", column], path)
        table = ensure_integer_ids(table.select(pl.col("id").alias("item_id"), column), "item_id", path)
        if column == "source":
            table = ensure_integer_ids(table, "source", path)
        table = table.unique("item_id", keep="first")
        items = table if items is None else items.join(table, on="item_id", how="full", coalesce=True)
    return items


def _read_dict_layout(base: Path, ratings_path: Path) -> SourceTables:
    users = read_csv(ratings_path, ratings_path, infer_schema=False)
    require_columns(users.columns, ["userId", "trainRatings"], ratings_path)
    entries = (
        users.with_row_index("_row")
        .select(
            "_row",
            pl.col("userId").alias("user_id"),
            pl.col("trainRatings").str.strip_chars().str.strip_chars("{}").str.split(",").alias("entry"),
        )
        .explode("entry")
        .filter(pl.col("entry").str.strip_chars().str.len_chars() > 0)
    )
    parsed = entries.with_columns(pl.col("entry").str.extract_groups(DICT_ENTRY).alias("kv"))
    bad = parsed.filter(pl.col("kv").struct.field("1").is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(
            f"row {row['_row'] + 1}: trainRatings entry {row['entry']!r} is not 'item_id': rating",
            path=ratings_path,
        )
    frame = ensure_integer_ids(
        parsed.select(
            "user_id",
            pl.col("kv").struct.field("1").cast(pl.Int64).alias("item_id"),
            pl.col("kv").struct.field("2").cast(pl.Float32).alias("weight"),
        ),
        "user_id",
        ratings_path,
    )
    events = frame.lazy().with_columns(pl.lit(None, dtype=pl.Int64).alias("timestamp"))
    meta_path = first_existing(base, ["item_meta.gz", "item_meta.csv"])
    items = None
    files = [ratings_path]
    if meta_path is not None:
        files.append(meta_path)
        meta = read_csv(meta_path, meta_path, infer_schema=False)
        require_columns(meta.columns, ["itemId"], meta_path)
        meta = meta.rename({"itemId": "item_id", **({"title": "name"} if "title" in meta.columns else {})})
        meta = meta.drop([c for c in meta.columns if c == "" or c.startswith("Unnamed")])
        items = ensure_integer_ids(meta, "item_id", meta_path).unique("item_id", keep="first")
    return SourceTables(events=events, items=items, files=files, stats={"users_in_source": users.height})


def _report_first_mismatch(frame: pl.DataFrame, column: str, pattern: str, path: Path, expected: str) -> None:
    bad = frame.with_row_index("_row").filter(
        pl.col(column).is_null() | ~pl.col(column).str.contains(pattern)
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(
            f"row {row['_row'] + 1}: column {column!r} value {str(row[column])[:60]!r} is not {expected}",
            path=path,
        )
