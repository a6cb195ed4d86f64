"""Built-in synthetic likes with a planted structure, so everything works with no download.

The generative story, vectorised over all likes at once:
- items belong to categories (uneven sizes) and have Zipf-like popularity inside them;
- each user has a few favourite categories with Dirichlet weights (the planted low-rank
  taste) and a lognormal activity level;
- a like picks one of the user's categories, then an item by popularity inside it; a small
  share of likes are "noise" drawn from global popularity;
- timestamps fall in a per-user active window inside one year.

Co-occurrence therefore follows categories, which item-kNN and iALS recover and a global
popularity ranking cannot. The `dzen` preset matches the real Dzen shape
(75,910 users x 104,503 items, ~5.8M likes) for benchmarks, `ml1m` MovieLens-1M's (6,040 x
3,706, ~1.0M likes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.data.tables import SourceTables
from recsys_cli.core.seeds import DEFAULT_SEED
from recsys_cli.data.generators import PRESETS, Preset  # noqa: F401  (PRESETS: the sizes, read by tests)
from recsys_cli.data.generators import preset as preset_spec

GENRES = [
    "Jazz", "Rock", "Techno", "Folk", "Opera", "Hip-Hop", "Blues", "Reggae", "Punk", "Soul",
    "Ambient", "Metal", "Country", "Disco", "Funk", "Gospel", "House", "Indie", "Latin", "Pop",
    "Ska", "Swing", "Trance", "Grunge", "Bossa", "Chanson", "Dubstep", "Garage", "Polka", "Tango",
]
ADJECTIVES = ["Blue", "Silent", "Golden", "Broken", "Electric", "Midnight", "Lost", "Wild", "Velvet", "Neon"]
NOUNS = ["Harbor", "River", "Echo", "Garden", "Signal", "Mirror", "Desert", "Letter", "Engine", "Window"]
YEAR_START = 1_640_995_200  # 2022-01-01 UTC
DAY = 86_400


@dataclass(frozen=True)
class SyntheticLikes:
    """One draw: a like per row (`users`, `items` as dense ids, `timestamps` in 2022 Unix
    seconds), the item table (item_id, name, category) and each item's category index."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    item_table: pl.DataFrame
    category_of_item: np.ndarray
    spec: Preset


def read(path: Path | None = None, preset: str = "small", seed: int = DEFAULT_SEED) -> SourceTables:
    drawn = draw(preset, seed)
    events = pl.LazyFrame(
        {
            "user_id": drawn.users.astype(np.int64),
            "item_id": drawn.items.astype(np.int64),
            "weight": np.ones(len(drawn.users), dtype=np.float32),
            "timestamp": drawn.timestamps,
        }
    ).sort("timestamp", "user_id", maintain_order=True)
    return SourceTables(events=events, items=drawn.item_table, files=[], stats={"preset": preset})


def draw(preset: str = "small", seed: int = DEFAULT_SEED) -> SyntheticLikes:
    """The likes and items of `preset` from `seed` (the same draw `read` turns into a source;
    `data/layouts/` writes it in the raw source layouts)."""
    spec = preset_spec(preset)
    rng = np.random.default_rng(seed)
    category_of_item, global_cdf, category_cdf = _catalogue(spec, rng)
    users, items = _likes(spec, rng, global_cdf, category_cdf)
    timestamps = _timestamps(spec, rng, users)
    item_ids = np.arange(spec.items)
    genre_names = [GENRES[c % len(GENRES)] + (f" {c // len(GENRES) + 1}" if c >= len(GENRES) else "") for c in range(spec.categories)]
    adjective = np.array(ADJECTIVES)[rng.integers(0, len(ADJECTIVES), spec.items)]
    noun = np.array(NOUNS)[rng.integers(0, len(NOUNS), spec.items)]
    category = np.array(genre_names)[category_of_item]
    items_table = pl.DataFrame(
        {"item_id": item_ids, "name": adjective, "_noun": noun, "category": category}
    ).select(
        "item_id",
        pl.format("{} {} #{} ({})", "name", "_noun", "item_id", "category").alias("name"),
        "category",
    )
    return SyntheticLikes(users, items, timestamps, items_table, category_of_item, spec)


def _catalogue(spec: Preset, rng: np.random.Generator):
    """Assign items to categories and build popularity CDFs, global and per category.

    `category_cdf` is laid out so that `searchsorted(category_cdf, c + u)` with u in [0, 1)
    samples an item of category c by popularity: each category's CDF occupies [c, c + 1).
    """
    sizes = rng.dirichlet(np.full(spec.categories, 4.0))
    category_of_item = np.sort(rng.choice(spec.categories, size=spec.items, p=sizes))
    missing = np.setdiff1d(np.arange(spec.categories), category_of_item)
    category_of_item[: len(missing)] = missing  # every category gets at least one item
    category_of_item = np.sort(category_of_item)
    starts = np.searchsorted(category_of_item, np.arange(spec.categories))
    rank_in_category = np.arange(spec.items) - starts[category_of_item]
    popularity = (rank_in_category + 1.0) ** -spec.popularity_exponent
    popularity *= rng.lognormal(0.0, 0.3, spec.items)
    category_total = np.bincount(category_of_item, weights=popularity, minlength=spec.categories)
    within = popularity / category_total[category_of_item]
    category_cdf = np.cumsum(within)  # each category's shares sum to 1, so it spans [c, c + 1)
    # Clamp each category's last entry just under the next integer against rounding.
    ends = np.r_[starts[1:], spec.items] - 1
    category_cdf[ends] = category_of_item[ends] + 1.0 - 1e-12
    global_cdf = np.cumsum(popularity) / popularity.sum()
    global_cdf[-1] = 1.0
    return category_of_item, global_cdf, category_cdf


def _likes(spec: Preset, rng: np.random.Generator, global_cdf, category_cdf):
    activity = rng.lognormal(0.0, 1.0, spec.users)
    activity = np.clip(np.round(activity / activity.mean() * spec.mean_activity), 2, spec.items // 4)
    activity = activity.astype(np.int64)
    users = np.repeat(np.arange(spec.users), activity)
    favourites = np.argsort(rng.random((spec.users, spec.categories)), axis=1)[:, : spec.favourite_categories]
    mix = np.cumsum(rng.dirichlet(np.ones(spec.favourite_categories), spec.users), axis=1)
    slot = (rng.random(len(users))[:, None] > mix[users]).sum(axis=1)
    slot = np.minimum(slot, spec.favourite_categories - 1)
    category = favourites[users, slot]
    items = np.searchsorted(category_cdf, category + rng.random(len(users)), side="right")
    noise = rng.random(len(users)) < spec.noise_share
    items[noise] = np.searchsorted(global_cdf, rng.random(int(noise.sum())), side="right")
    items = np.minimum(items, spec.items - 1)
    # A like is once per (user, item): keep the first draw of each pair.
    _, first = np.unique(users * spec.items + items, return_index=True)
    first.sort()
    return users[first], items[first]


def _timestamps(spec: Preset, rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
    start = rng.integers(0, 300 * DAY, spec.users)
    span = rng.integers(7 * DAY, 365 * DAY - start + 1)
    offsets = (rng.random(len(users)) * span[users]).astype(np.int64)
    return YEAR_START + start[users] + offsets
