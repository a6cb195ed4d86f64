"""`recsys ingest FORMAT ...`: one sub-command per source format, sharing output and filter options."""

from __future__ import annotations

import functools
import inspect
import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.common import ForceOption, JsonOption, QuietOption, err_console, report_stage, safe, status
from recsys_cli.core.seeds import DEFAULT_SEED
from recsys_cli.data.generators import PRESETS

ingest_app = typer.Typer(
    help="Turn a raw interaction log into a canonical dataset folder "
    "(events.parquet, matrix.npz, users/items.parquet, dataset.json).",
    no_args_is_help=True,
)

SHARED_OPTIONS = [
    inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[
        Path, typer.Option("--out", "-o", help="Your name for the dataset: a link to its stored version in .recsys-store/datasets/ beside it (a new version for new input; the old one is kept for its runs).")]),
    inspect.Parameter("min_user_interactions", inspect.Parameter.KEYWORD_ONLY, default=0, annotation=Annotated[
        int, typer.Option(help="Drop users with fewer events (iterated with the item filter until stable).")]),
    inspect.Parameter("min_item_interactions", inspect.Parameter.KEYWORD_ONLY, default=0, annotation=Annotated[
        int, typer.Option(help="Drop items with fewer events (iterated with the user filter until stable).")]),
    inspect.Parameter("dedupe", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
        bool, typer.Option(help="Keep one event per (user, item): the earliest, with the largest weight.")]),
    inspect.Parameter("debug_slice", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[tuple[float, float]], typer.Option(
            metavar="ITEM_PCT USER_PCT",
            help="Keep the top ITEM_PCT of items by popularity and a seeded random USER_PCT of users, "
            "as fractions (0.03 0.03 = 3%): the tiny slice for CI smoke runs.")]),
    inspect.Parameter("slice_seed", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_SEED, annotation=Annotated[
        int, typer.Option(help="Seed of --debug-slice's user sample.")]),
    inspect.Parameter("aggregate", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
        bool, typer.Option(help="Stream the log into one row per (user, item) pair (event count, first/last "
                           "time), with memory bounded by the pairs: for logs larger than memory. Always on for yambda.")]),
    inspect.Parameter("weighting", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[str], typer.Option(
            help="Transform matrix.npz's values: binary (every interaction 1) or log1p (log(1 + r/eps)) "
            "for play counts; bm25/tfidf are model parameters. Default: the values as they are.")]),
    inspect.Parameter("weighting_eps", inspect.Parameter.KEYWORD_ONLY, default=1.0, annotation=Annotated[
        float, typer.Option(help="eps of --weighting log1p.")]),
    inspect.Parameter("force", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=ForceOption),
    inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=QuietOption),
    inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOption),
]


def format_command(fmt: str):
    """Register `func` as `recsys ingest <fmt>`. `func` takes the format's own arguments and
    returns (source path or None, reader options); the shared options are added here."""

    def decorate(func):
        own = list(inspect.signature(func, eval_str=True).parameters.values())  # real Annotated, so typer sees the help

        @functools.wraps(func)
        def command(**kwargs):
            from recsys_cli.stages import ingest as ingest_stage
            from recsys_cli.data.filters import IngestFilters

            shared = {p.name: kwargs.pop(p.name) for p in SHARED_OPTIONS}
            source, options = func(**kwargs)
            filters = IngestFilters(
                min_user_interactions=shared["min_user_interactions"],
                min_item_interactions=shared["min_item_interactions"],
                dedupe=shared["dedupe"],
                debug_slice=shared["debug_slice"],
                seed=shared["slice_seed"],
                aggregate=shared["aggregate"],
                weighting=shared["weighting"],
                weighting_eps=shared["weighting_eps"],
            )
            with status(f"Ingesting {fmt} into {shared['out']}...", shared["quiet"] or shared["as_json"]):
                result = ingest_stage.ingest(fmt, source, shared["out"], options, filters, force=shared["force"],
                                             on_damage=lambda text: err_console.print(f"[yellow]{safe(text)}[/]"))
            counts = result.info["counts"]
            report_stage(result, "dataset", shared["quiet"], shared["as_json"], {
                "users": counts["users"], "items": counts["items"], "events": counts["events"],
                "interactions": counts["interactions"], "density": counts["density"],
                "timestamps": result.info["has_timestamps"],
            })
            if not shared["quiet"]:
                for warning in ingest_stage.ingest_warnings(result.info):
                    err_console.print(f"[yellow]warning:[/] {safe(warning)}", soft_wrap=True)

        command.__signature__ = inspect.Signature(own + SHARED_OPTIONS)
        ingest_app.command(fmt)(command)
        return func

    return decorate


SourceArg = Annotated[Path, typer.Argument(help="The source folder or file.")]


@format_command("movielens")
def movielens(
    path: Annotated[Path, typer.Argument(help="MovieLens folder or official zip (100k, 1m, 10m, 20m, 25m, latest).")],
    min_rating: Annotated[Optional[float], typer.Option(
        help="Keep ratings >= this as implicit likes of weight 1 (the seeds use 4). "
        "Without it the rating is the weight.")] = None,
):
    """MovieLens ratings. Example: recsys ingest movielens data/raw/ml-1m.zip --out data/ml-1m --min-rating 4"""
    return path, {"min_rating": min_rating}


@format_command("dzen")
def dzen(path: SourceArg):
    """Dzen article likes (zen_ratings.csv + names/sources). Example: recsys ingest dzen data/raw/zen --out data/dzen"""
    return path, {}


@format_command("ozon")
def ozon(
    path: SourceArg,
    include: Annotated[list[str], typer.Option(help="Parts to read: orders, actions (repeatable).")] = ["orders", "actions"],
    action_weight: Annotated[list[str], typer.Option(
        help="Override an action type's weight, TYPE=W (repeatable); 0 drops the type. "
        "Defaults: order=5 to_cart=3 favorite=2 click=1 view=0.5 search=0.")] = [],
):
    """Ozon orders and user actions. Example: recsys ingest ozon data/raw/ozon --out data/ozon --include orders"""
    return path, {"include": tuple(include), "action_weights": _parse_weights(action_weight)}


@format_command("yandex-music")
def yandex_music(path: SourceArg):
    """Listening events (events.parquet + items.parquet, or tracks + catalog_names).
    Example: recsys ingest yandex-music data/raw/music --out data/music --min-user-interactions 5"""
    return path, {}


@format_command("yambda")
def yambda(
    path: Annotated[Path, typer.Argument(help="A Yambda flat folder, e.g. yambda/flat/50m (listens/likes/dislikes.parquet).")],
    include: Annotated[list[str], typer.Option(
        help="Parts to read: listens, likes, dislikes (repeatable). A disliked (user, item) pair is dropped.")] = ["listens", "likes"],
    organic_only: Annotated[bool, typer.Option(help="Keep organic events only (is_organic = 1), not recommendation-driven ones.")] = False,
    listen_ratio: Annotated[Optional[float], typer.Option(
        metavar="PCT", help="Count a listen (as a like) only when played_ratio_pct >= PCT; the paper uses 50.")] = None,
):
    """Yandex Music's Yambda log, streamed into (user, item) pairs.
    Example: recsys ingest yambda yambda/flat/50m --out data/yambda-50m --organic-only --listen-ratio 50"""
    return path, {"include": tuple(include), "organic_only": organic_only, "listen_ratio": listen_ratio}


@format_command("npz")
def npz(path: Annotated[Path, typer.Argument(help="A scipy.sparse .npz users x items matrix.")]):
    """A ready CSR matrix; ids are its row/column indices. Example: recsys ingest npz data_train.npz --out data/music-npz"""
    return path, {}


@format_command("table")
def table(
    path: Annotated[Path, typer.Argument(help="A CSV, TSV, .dat or Parquet file.")],
    user: Annotated[str, typer.Option(help="User id column.")] = "user_id",
    item: Annotated[str, typer.Option(help="Item id column.")] = "item_id",
    weight: Annotated[Optional[str], typer.Option(help="Weight column (default: every row weighs 1).")] = None,
    time: Annotated[Optional[str], typer.Option(help="Time column: date, datetime, Unix seconds or ISO string.")] = None,
    sep: Annotated[Optional[str], typer.Option(help="Separator, one or more characters ('::', tab); default ',' for .csv, tab for .tsv, guessed for others (.dat, .txt).")] = None,
    header: Annotated[bool, typer.Option("--header/--no-header", help="Whether the first line names the columns; without one, columns are 1, 2, ... (--user 1 --item 2 are the defaults).")] = True,
):
    """Any table; columns by name or 1-based position. A first line that looks like data is refused, never eaten as a header.

    Example: recsys ingest table plays.csv --user uid --item track --time ts --out data/plays

    Example: recsys ingest table ratings.dat --no-header --sep '::' --weight 3 --time 4 --out data/ml-1m
    """
    return path, {"user": user, "item": item, "weight": weight, "time": time, "sep": sep,
                  **({} if header else {"header": False})}


@format_command("synthetic")
def synthetic(
    preset: Annotated[str, typer.Option(help="; ".join(f"{name}: {p.what}" for name, p in PRESETS.items()) + ".")] = "small",
    seed: Annotated[int, typer.Option(help="Generator seed.")] = DEFAULT_SEED,
):
    """Built-in synthetic likes with planted tastes (no download); `recsys generate` writes the
    same likes as raw files in a real source's layout. Example: recsys ingest synthetic --out data/demo"""
    return None, {"preset": preset, "seed": seed}


def _parse_weights(pairs: list[str]) -> dict[str, float] | None:
    from recsys_cli.core.errors import InputError

    weights = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:  # no '=' leaves value empty, which float() refuses too
            weights[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--action-weight {pair!r}: expected TYPE=NUMBER, e.g. view=0.5") from None
        if not math.isfinite(weights[name.strip()]) or weights[name.strip()] < 0:
            raise InputError(f"--action-weight {pair!r}: the weight must be a finite number >= 0")
    return weights or None
