"""MovieLens' three file layouts (GroupLens, `data/formats/movielens.py`), written as the
official zips hold them (`ml-1m/ratings.dat`, ...): ml-100k (`u.data` tab-separated,
`u.item` '|'-separated with one 0/1 flag per genre of `u.genre`), ml-1m (`ratings.dat`,
`movies.dat`: '::'-separated, latin-1) and ml-latest-small (`ratings.csv` with half-star
ratings, `movies.csv`, titles with commas quoted). Ids start at 1. A like becomes a rating of
4 or 5; other films the user saw get 1 to 3, so `min_rating: 4` gives back the likes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.data.layouts.world import World

OTHER_RATINGS_SHARE = 0.75  # ml-1m: 57% of ratings are 4 or 5


def write_100k(world: World, target: Path) -> None:
    ratings, movies = _ratings(world, half_stars=False), _movies(world)
    ratings.write_csv(target / "u.data", separator="\t", include_header=False)
    genres = world.categories
    flags = pl.DataFrame(np.eye(len(genres), dtype=np.int8)[world.likes.category_of_item],
                         schema=[f"g{i}" for i in range(len(genres))])
    items = pl.concat([movies.select(
        "movie_id", "title", pl.lit("01-Jan-1995").alias("release"), pl.lit("").alias("video_release"),
        pl.format("http://us.imdb.com/M/title-exact?{}", pl.col("title").str.replace_all(" ", "%20")).alias("url"),
    ), flags], how="horizontal")
    _write_latin1(items.write_csv(separator="|", include_header=False, quote_style="never"), target / "u.item")
    _write_latin1("".join(f"{name}|{i}\n" for i, name in enumerate(genres)) + "\n", target / "u.genre")


def write_1m(world: World, target: Path) -> None:
    ratings, movies = _ratings(world, half_stars=False), _movies(world)
    _write_latin1(_joined(ratings, "::"), target / "ratings.dat")
    _write_latin1(_joined(movies, "::"), target / "movies.dat")


def write_latest(world: World, target: Path) -> None:
    ratings = _ratings(world, half_stars=True).rename({"user_id": "userId", "movie_id": "movieId"})
    ratings.with_columns(pl.col("rating").cast(pl.Float64)).write_csv(target / "ratings.csv", float_precision=1)
    _movies(world).rename({"movie_id": "movieId"}).write_csv(target / "movies.csv")


def _ratings(world: World, half_stars: bool) -> pl.DataFrame:
    """user_id, movie_id, rating, timestamp: every like rated 4 to 5, other films 1 to 3.5."""
    rng = world.rng("movielens")
    likes, other = world.like_frame(), world.other_pairs(rng, OTHER_RATINGS_SHARE)
    step = 0.5 if half_stars else 1.0
    high = 4.0 + step * rng.integers(0, int(1 / step) + 1, likes.height)
    low = (0.5 if half_stars else 1.0) + step * rng.integers(0, int(3 / step) + (1 if half_stars else 0), other.height)
    frame = pl.concat([likes.with_columns(pl.Series("rating", high)), other.with_columns(pl.Series("rating", low))])
    rating = pl.col("rating") if half_stars else pl.col("rating").cast(pl.Int64)
    return frame.sort("user", "timestamp", maintain_order=True).select(
        (pl.col("user") + 1).alias("user_id"), (pl.col("item") + 1).alias("movie_id"), rating, "timestamp")


def _movies(world: World) -> pl.DataFrame:
    """movie_id, title ("Broken Echo #12 (1994)"; some "..., The", some "Café ..."), genres."""
    rng = world.rng("movielens-titles")
    items = world.likes.item_table
    year = pl.Series(rng.integers(1930, 2000, world.items)).cast(pl.String)
    base = items["name"].str.replace(r" \([^)]*\)$", "")
    kind = rng.random(world.items)
    title = (pl.when(pl.Series(kind < 0.05)).then(base + ", The").when(pl.Series(kind > 0.97)).then("Café " + base)
             .otherwise(base))
    return pl.DataFrame({"movie_id": items["item_id"] + 1}).with_columns(
        (title + " (" + year + ")").alias("title"), items["category"].alias("genres"))


def _joined(frame: pl.DataFrame, separator: str) -> str:
    """Rows as `a::b::c` lines (polars writes one-character separators only)."""
    return frame.select(pl.concat_str([pl.col(c).cast(pl.String) for c in frame.columns], separator=separator)) \
        .write_csv(include_header=False, quote_style="never")


def _write_latin1(text: str, path: Path) -> None:
    path.write_bytes(text.encode("latin-1"))
