"""How the defaults of dlae, edlae, sparse-ease and blend were picked (issue 27): a grid of each
model's parameters scored on the *validation* part of four real-shaped data sets, never on test.

Data sets (written once under data/bench/): ml-latest-small with ratings >= 4 as likes and with
every rating a like, the synthetic ML-1M shape (`synthetic --preset ml1m`, seed 42) and the
Last.fm-style play counts of benchmarks/weighting_lastfm.py (binarised by these models). Split:
the seed protocol (leave-one-random, 20% of users, seed 42) with validation carved from train
the same way (every train user with 2+ likes loses one); each grid point is fitted on
valid_train and scored by MRR@100 on valid (seen items filtered). The printed table gives each
point's MRR@100 per data set and its ratio to default EASE's on that set; the default is the point
with the best geometric mean ratio.

    python benchmarks/model_defaults.py [--models dlae,edlae] [--sets ml-small-ge4,ml1m-synthetic]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import BENCH, ROOT  # noqa: E402

GRIDS = {
    "ease": {"l2": [300.0]},
    "dlae": {"dropout": [0.5, 0.75], "l2": [300.0, 1000.0]},
    "edlae": {"dropout": [0.1, 0.25, 0.5], "l2": [10.0, 100.0, 300.0]},
    "sparse-ease": {"neighbor_by": ["cooccurrence", "cosine"], "neighbors": [50, 100, 200]},
    "blend": {"normalise": ["zscore", "minmax"]},
}
SETS = ("ml-small-ge4", "ml-small-all", "ml1m-synthetic", "lastfm-style")


def dataset(name: str) -> Path:
    """The named data set's folder, ingested on first use."""
    from recsys_cli.stages import ingest as ingest_stage

    movielens = ROOT.parent.parent / "shared" / "datasets" / "ml-latest-small"
    if not movielens.exists():
        movielens = Path("/work/shared/datasets/ml-latest-small")
    out = BENCH / f"defaults-{name}"
    if name == "ml-small-ge4":
        return ingest_stage.ingest("movielens", movielens, out, {"min_rating": 4}).path
    if name == "ml-small-all":
        return ingest_stage.ingest("movielens", movielens, out).path
    if name == "ml1m-synthetic":
        return ingest_stage.ingest("synthetic", None, out, {"preset": "ml1m", "seed": 42}).path
    if name == "lastfm-style":
        from benchmarks.weighting_lastfm import play_counts

        source = play_counts("small", 42)
        return ingest_stage.ingest("table", source, out, {"user": "user", "item": "artist", "weight": "plays"}).path
    raise SystemExit(f"unknown data set {name!r}; expected one of {', '.join(SETS)}")


def validation(name: str):
    """(valid_train, valid, history) of the seed-protocol split of data set `name`."""
    from recsys_cli.data.split_folder import load_split
    from recsys_cli.stages import split as split_stage

    folder = split_stage.split(dataset(name), "leave-one-random", None, {"test_users": 0.2}, seed=42,
                               validation=True).path
    valid_train, valid, history, _ = load_split(folder).validation()
    return valid_train, valid, history


def score(model_type: str, params: dict, data) -> tuple[float, float]:
    """(validation MRR@100, fit seconds) of one grid point."""
    from recsys_cli.evaluation.evaluate import evaluate
    from recsys_cli.models.registry import build_model

    valid_train, valid, history = data
    started = time.perf_counter()
    model = build_model(model_type, params, seed=42, threads=0).fit(valid_train)
    seconds = time.perf_counter() - started
    result = evaluate(model, valid_train, valid, history, [100], ["mrr"], bootstrap=False)
    return result.summary["mrr@100"], seconds


def points(grid: dict) -> list[dict]:
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="dlae,edlae")
    parser.add_argument("--sets", default=",".join(SETS))
    args = parser.parse_args()
    sets = args.sets.split(",")
    data = {name: validation(name) for name in sets}
    for name, (train, valid, _) in data.items():
        print(f"{name}: {train.shape[0]:,} users x {train.shape[1]:,} items, {train.nnz:,} train likes, "
              f"{np.count_nonzero(np.diff(valid.indptr)):,} validation users")
    base = {name: score("ease", {}, data[name])[0] for name in sets}
    print("default EASE validation MRR@100: " + ", ".join(f"{n} {v:.4f}" for n, v in base.items()))
    for model_type in args.models.split(","):
        print(f"\n{model_type}: validation MRR@100 (ratio to default EASE)")
        print(f"{'params':34s} " + " ".join(f"{n:>22s}" for n in sets) + f" {'geo-mean':>9s} {'fit s':>6s}")
        rows = []
        for params in points(GRIDS[model_type]):
            results = [score(model_type, params, data[name]) for name in sets]
            ratios = [mrr / base[name] for (mrr, _), name in zip(results, sets)]
            mean = float(np.exp(np.mean(np.log(ratios))))
            rows.append((mean, params))
            print(f"{str(params):34s} " + " ".join(f"{m:13.4f} ({r:5.3f}x)" for (m, _), r in zip(results, ratios))
                  + f" {mean:9.4f} {max(s for _, s in results):6.1f}", flush=True)
        best = max(rows, key=lambda row: row[0])
        print(f"best {model_type}: {best[1]} (geometric mean {best[0]:.4f}x default EASE)")


if __name__ == "__main__":
    main()
