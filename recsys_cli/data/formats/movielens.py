"""MovieLens (GroupLens): ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-latest(-small).

Layouts, found by file name inside the folder or the official zip:
- ml-100k: `u.data` (tab: user item rating timestamp) + `u.item` ('|', latin-1:
  id|title|release date|video release|IMDb URL|19 genre flags) + optional `u.genre`.
- ml-1m, ml-10m: `ratings.dat` (user::item::rating::timestamp) + `movies.dat`
  (id::title::genres, latin-1 in ml-1m).
- ml-20m, ml-25m, ml-latest: `ratings.csv` (userId,movieId,rating,timestamp) + `movies.csv`
  (movieId,title,genres; titles quoted when they hold commas).

`min_rating` turns ratings into implicit likes (rating >= min_rating, weight 1), as the
seeds do with 4; without it the rating is the event weight.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from recsys_cli.data.tables import (
    Bundle,
    SourceTables,
    decode_text,
    read_csv,
    require_columns,
)
from recsys_cli.core.errors import InputError

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
RATING_SCHEMA = {"user_id": pl.Int64, "item_id": pl.Int64, "rating": pl.Float64, "timestamp": pl.Int64}


def read(path: Path, min_rating: float | None = None) -> SourceTables:
    bundle = Bundle(Path(path))
    if bundle.has("u.data"):
        ratings, items = _read_100k(bundle)
    elif bundle.has("ratings.dat"):
        ratings, items = _read_dat(bundle)
    elif bundle.has("ratings.csv"):
        ratings, items = _read_csv_layout(bundle)
    else:
        raise InputError(
            "no MovieLens ratings file found; expected u.data (ml-100k), ratings.dat "
            "(ml-1m/ml-10m) or ratings.csv (ml-20m/ml-25m/ml-latest)",
            path=path,
        )
    stats = {"ratings": ratings.height}
    if min_rating is not None:
        ratings = ratings.filter(pl.col("rating") >= min_rating).with_columns(
            pl.lit(1.0).alias("rating")
        )
        stats["ratings_below_min_rating"] = stats["ratings"] - ratings.height
    events = ratings.lazy().select(
        "user_id", "item_id", pl.col("rating").cast(pl.Float32).alias("weight"), "timestamp"
    )
    return SourceTables(events=events, items=items, files=bundle.files(), stats=stats,
                        weight_kind="implicit" if min_rating is not None else "rating")


def _checked_ratings(frame: pl.DataFrame, location: str) -> pl.DataFrame:
    """Cast the four rating columns, naming the first row whose value does not parse."""
    frame = frame.with_row_index("_row")
    for column, dtype in RATING_SCHEMA.items():
        cast = pl.col(column).cast(dtype, strict=False)
        bad = frame.filter(cast.is_null())
        if bad.height:
            row = bad.row(0, named=True)
            raise InputError(
                f"line {row['_row'] + 1 + _header_lines(location)}: {column} "
                f"{row[column]!r} is not a {'number' if dtype == pl.Float64 else 'whole number'}",
                path=location,
            )
        frame = frame.with_columns(cast)
    return frame.drop("_row")


def _header_lines(location: str) -> int:
    return 1 if location.endswith(".csv") else 0


def _read_100k(bundle: Bundle) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    location = bundle.location("u.data")
    ratings = read_csv(
        bundle.open("u.data"), location, separator="\t", has_header=False,
        new_columns=list(RATING_SCHEMA), infer_schema=False,
    )
    _require_width(ratings, 4, location, "tab-separated: user item rating timestamp")
    ratings = _checked_ratings(ratings, location)
    if not bundle.has("u.item"):
        return ratings, None
    genres = ML100K_GENRES
    if bundle.has("u.genre"):
        lines = decode_text(bundle.read_bytes("u.genre")).splitlines()
        genres = [line.split("|")[0] for line in lines if line.strip()]
    parts = _lines(bundle, "u.item").str.split("|").alias("f").to_frame()
    flags = [pl.col("f").list.get(5 + i, null_on_oob=True) == "1" for i in range(len(genres))]
    items = parts.select(
        pl.col("f").list.get(0).cast(pl.Int64, strict=False).alias("item_id"),
        pl.col("f").list.get(1, null_on_oob=True).alias("name"),
        pl.concat_list(
            [pl.when(flag).then(pl.lit(name)) for flag, name in zip(flags, genres)]
        ).list.drop_nulls().alias("genres"),
    ).drop_nulls("item_id")
    return ratings, items


def _read_dat(bundle: Bundle) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    location = bundle.location("ratings.dat")
    # '::' is not a single-byte separator; splitting on ':' puts empty fields between values.
    raw = read_csv(
        bundle.open("ratings.dat"), location, separator=":", has_header=False,
        infer_schema=False, quote_char=None,
    )
    _require_width(raw, 7, location, "user::item::rating::timestamp")
    ratings = raw.select(
        [pl.col(raw.columns[i]).alias(name) for i, name in zip((0, 2, 4, 6), RATING_SCHEMA)]
    )
    ratings = _checked_ratings(ratings, location)
    if not bundle.has("movies.dat"):
        return ratings, None
    fields = _lines(bundle, "movies.dat").str.splitn("::", 3).struct.rename_fields(
        ["item_id", "name", "genres"]
    )
    items = fields.struct.unnest().with_columns(
        pl.col("item_id").cast(pl.Int64, strict=False),
        pl.col("genres").str.split("|"),
    ).drop_nulls("item_id")
    return ratings, items


def _read_csv_layout(bundle: Bundle) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    location = bundle.location("ratings.csv")
    raw = read_csv(bundle.open("ratings.csv"), location, infer_schema=False)
    require_columns(raw.columns, ["userId", "movieId", "rating", "timestamp"], location)
    ratings = raw.select(
        pl.col("userId").alias("user_id"), pl.col("movieId").alias("item_id"),
        "rating", "timestamp",
    )
    ratings = _checked_ratings(ratings, location)
    if not bundle.has("movies.csv"):
        return ratings, None
    movies_location = bundle.location("movies.csv")
    text = decode_text(bundle.read_bytes("movies.csv"))
    movies = read_csv(io.StringIO(text), movies_location, infer_schema=False)
    require_columns(movies.columns, ["movieId", "title"], movies_location)
    items = movies.select(
        pl.col("movieId").cast(pl.Int64, strict=False).alias("item_id"),
        pl.col("title").alias("name"),
        *([pl.col("genres").str.split("|")] if "genres" in movies.columns else []),
    ).drop_nulls("item_id")
    return ratings, items


def _lines(bundle: Bundle, name: str) -> pl.Series:
    """Non-empty lines of a small legacy-encoded metadata file."""
    lines = pl.Series("line", decode_text(bundle.read_bytes(name)).splitlines())
    return lines.filter(lines.str.len_chars() > 0)


def _require_width(frame: pl.DataFrame, width: int, location: str, expected: str) -> None:
    if frame.width != width:
        raise InputError(f"found {frame.width} fields per line; expected {expected}", path=location)
