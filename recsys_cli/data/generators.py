"""What recsys can generate, readable without numpy: help texts, the docs and error messages
list their choices from here.

- `PRESETS`: the sizes of the built-in synthetic likes (`recsys ingest synthetic --preset`,
  `recsys generate --preset`); `data/formats/synthetic.py` draws them.
- `LAYOUTS`: the raw source layouts `recsys generate LAYOUT` writes, each exactly the files
  one reader in `data/formats/` expects, so every example config can run with no download.

Adding a layout is one module in `data/layouts/` (a `write(world, target)` function) plus one
line in `LAYOUTS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recsys_cli.core.errors import InputError
from recsys_cli.data.download import ARCHIVES


@dataclass(frozen=True)
class Preset:
    users: int
    items: int
    categories: int
    mean_activity: float
    what: str
    favourite_categories: int = 3
    noise_share: float = 0.1
    popularity_exponent: float = 0.9


PRESETS = {
    "small": Preset(users=4_000, items=2_000, categories=25, mean_activity=28.0,
                    what="4,000 users x 2,000 items, ~80k likes (the quickstart)"),
    "dzen": Preset(users=75_910, items=104_503, categories=300, mean_activity=118.0,
                   what="75,910 x 104,503, ~5.9M likes (the Dzen shape)"),
    # 300 draws a user on average; repeats of a (user, item) pair collapse, leaving ~1.04M likes
    # (mean ~172 a user), about ML-1M's 1.0M ratings over 6,040 users x 3,706 movies.
    "ml1m": Preset(users=6_040, items=3_706, categories=18, mean_activity=300.0, favourite_categories=5,
                   popularity_exponent=0.7, what="6,040 x 3,706, ~1.04M likes (MovieLens-1M's shape)"),
}


@dataclass(frozen=True)
class Layout:
    writer: str  # "module:function" writing the files, imported on use
    format: str  # the `recsys ingest` format that reads them
    target: str  # the default name under --dir: where the example config (and `recsys download`) puts it
    what: str
    inside: str = ""  # the part of the target `recsys ingest FORMAT` reads (yambda: flat/50m)

    def ingest_path(self, out: Path) -> Path:
        return out / self.inside if self.inside else out


LAYOUTS = {
    "dzen": Layout("recsys_cli.data.layouts.dzen:write", "dzen", "zen",
                   "zen_ratings.csv (each user's liked item ids as a list), zen_item_to_name.csv, "
                   "zen_item_to_source.csv; no time"),
    "ozon": Layout("recsys_cli.data.layouts.ozon:write", "ozon", "ozon",
                   "train_orders, test_orders, user_actions_full_sample (views, carts, favourites, "
                   "clicks, searches, orders), product_information_full: Parquet without extensions"),
    "yandex-music": Layout("recsys_cli.data.layouts.yandex_music:write", "yandex-music", "music",
                           "interactions.parquet (listens with track_seq, 2022), tracks.parquet "
                           "(album/artist/genre id lists), catalog_names.parquet"),
    "yambda": Layout("recsys_cli.data.layouts.yambda:write", "yambda", "yambda",
                     "flat/50m/{listens,likes,dislikes}.parquet in 5-second units, "
                     "artist_item_mapping.parquet and album_item_mapping.parquet at the root",
                     inside="flat/50m"),
    "movielens-100k": Layout("recsys_cli.data.layouts.movielens:write_100k", "movielens",
                             ARCHIVES["movielens-100k"].filename, "u.data, u.item, u.genre in a zip"),
    "movielens-1m": Layout("recsys_cli.data.layouts.movielens:write_1m", "movielens",
                           ARCHIVES["movielens-1m"].filename, "ratings.dat, movies.dat (latin-1) in a zip"),
    "movielens-latest-small": Layout("recsys_cli.data.layouts.movielens:write_latest", "movielens",
                                     ARCHIVES["movielens-latest-small"].filename,
                                     "ratings.csv (half-star ratings), movies.csv in a zip"),
}


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InputError(f"unknown synthetic preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]


def layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise InputError(f"unknown layout {name!r}; expected one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def layout_for(format: str, path: str | Path) -> tuple[str, Path] | None:
    """(layout name, --out) of the generated layout that `recsys ingest FORMAT PATH` reads, or
    None: how an example config's `dataset: {format, path}` finds its generated twin. Of
    several layouts of one format (MovieLens), the one whose default name is PATH's."""
    path = Path(path)
    found = []
    for name, entry in LAYOUTS.items():
        inside = Path(entry.inside).parts if entry.inside else ()
        if entry.format != format or (inside and path.parts[-len(inside):] != inside):
            continue
        out = Path(*path.parts[: len(path.parts) - len(inside)]) if inside else path
        found.append((name, out, out.name == entry.target))
    named = [(name, out) for name, out, same in found if same]
    return named[0] if named else (found[0][:2] if len(found) == 1 else None)
