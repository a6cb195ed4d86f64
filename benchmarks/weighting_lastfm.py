"""Counts are not likes: iALS on Last.fm-style play counts, raw vs weighted (MRR@100).

The data: the synthetic preset's planted tastes (who listens to which artists) with play
counts as heavy-tailed as Last.fm's: a lognormal listening volume per user times a Pareto
(shape 1.1) draw per (user, artist), so a few cells reach the hundreds of thousands while
the median is a handful. The counts say how much someone listens, hardly what they like —
fed raw into iALS's confidence 1 + alpha * r they drown the signal.

    python benchmarks/weighting_lastfm.py [--preset small] [--seed 42]

Prints MRR@100 (leave-one-random, seen items filtered) of popularity, default iALS on raw
counts, iALS with log1p / bm25 (alpha 10 and 1: bm25 weights are ~100x larger) / tfidf weighting, iALS on binarised counts, and item-kNN
raw vs log1p, with the ratio of each against default iALS.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import BENCH  # noqa: E402


def play_counts(preset: str, seed: int) -> Path:
    """A (user, artist, plays) CSV with Last.fm-like heavy tails, written once."""
    from recsys_cli.data.formats.synthetic import read

    target = BENCH / f"lastfm-style-{preset}-{seed}.csv"
    if target.exists():
        return target
    events = read(None, preset=preset, seed=seed).events.collect()
    cells = events.group_by("user_id", "item_id").len().sort("user_id", "item_id")
    rng = np.random.default_rng(seed)
    users = cells["user_id"].to_numpy()
    volume = rng.lognormal(mean=1.0, sigma=1.5, size=users.max() + 1)
    plays = np.ceil(volume[users] * (rng.pareto(1.1, size=cells.height) + 1.0)).astype(np.int64)
    target.parent.mkdir(parents=True, exist_ok=True)
    cells.select(pl.col("user_id").alias("user"), pl.col("item_id").alias("artist"),
                 pl.Series("plays", plays)).write_csv(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    from recsys_cli.run import run_experiment

    source = play_counts(args.preset, args.seed)
    plays = pl.read_csv(source)["plays"]
    print(f"{source.name}: {len(plays):,} cells, plays median {plays.median():.0f}, max {plays.max():,}")
    ials = {"factors": 64, "iterations": 15}
    models = [
        {"name": "popular", "type": "popular"},
        {"name": "ials raw (default)", "type": "ials", "params": ials},
        {"name": "ials log1p", "type": "ials", "params": {**ials, "weighting": "log1p"}},
        {"name": "ials bm25", "type": "ials", "params": {**ials, "weighting": "bm25"}},
        {"name": "ials bm25 alpha=1", "type": "ials", "params": {**ials, "weighting": "bm25", "alpha": 1.0}},
        {"name": "ials tfidf", "type": "ials", "params": {**ials, "weighting": "tfidf"}},
        {"name": "ials binary", "type": "ials", "params": {**ials, "weighting": "binary"}},
        {"name": "item-knn raw", "type": "item-knn"},
        {"name": "item-knn log1p", "type": "item-knn", "params": {"weighting": "log1p"}},
    ]
    for model in models:
        model["name"] = model["name"].replace(" ", "-").replace("(", "").replace(")", "").replace("=", "")
    config = {
        "name": "weighting-lastfm",
        "dataset": {"format": "table", "path": str(source), "user": "user", "item": "artist", "weight": "plays",
                    "out": str(BENCH / f"lastfm-style-{args.preset}-{args.seed}")},
        "split": {"strategy": "leave-one-random", "test_users": 0.2, "seed": 42},
        "models": models, "metrics": {"k": [100], "names": ["mrr"]},
        "export": {"recommendations": 0, "similar": 0}, "seed": 42,
    }
    path = BENCH / "weighting-lastfm.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.perf_counter()
    summary = run_experiment(path, BENCH / "runs")
    base = summary["metrics"]["ials-raw-default"]["mrr@100"]
    print(f"{'model':<22} {'MRR@100':>8} {'vs default iALS':>16}")
    for name, metrics in summary["metrics"].items():
        print(f"{name:<22} {metrics['mrr@100']:>8.4f} {metrics['mrr@100'] / base:>15.2f}x")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
