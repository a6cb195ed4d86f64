"""Beyond EASE (issue 27): dlae, edlae, sparse-ease and blends against EASE, with defaults,
over 5 user folds of the seed protocol.

Data: ml-latest-small with ratings >= 4 as likes (`ml-small-ge4`) or every rating a like
(`ml-small-all`, no min_rating: the stand-in for ML-1M with all ratings; `--data` takes any
MovieLens folder or zip, e.g. ml-1m) and the synthetic ML-1M shape (`synthetic --preset ml1m`,
seed 42). Split:
leave-one-random over 5 disjoint user folds (`split: {folds: 5}`, seed 42): every user with 2+
likes is a test user once. Each model runs with its defaults through `recsys run`; printed per
data set: each model's test MRR@100 mean ± sd over the folds, and its per-user difference to
EASE pooled over the folds (95% t-interval, paired t-test, Holm-adjusted over all pairs: the
run's metrics.json `repeats.pooled`).

    python benchmarks/beyond_ease.py [--sets ml-small-ge4,ml-small-all,ml1m-synthetic] [--models ease,dlae,...]
        [--threads N] [--out FOLDER]   # YAML, data sets and runs under FOLDER (default data/bench)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import BENCH, ROOT  # noqa: E402

MODELS = {
    "ease": {"type": "ease"},
    "dlae": {"type": "dlae"},
    "edlae": {"type": "edlae"},
    "sparse-ease": {"type": "sparse-ease"},
    "blend": {"type": "blend"},  # its default components: edlae + ials-rendle
    "blend-rp3beta": {"type": "blend", "params": {"components": [{"type": "edlae"}, {"type": "rp3beta"}]}},
    "blend-ease-ials": {"type": "blend", "params": {"components": [{"type": "ease"}, {"type": "ials-rendle"}]}},
    "blend-ease-rp3beta": {"type": "blend", "params": {"components": [{"type": "ease"}, {"type": "rp3beta"}]}},
    "ials-rendle": {"type": "ials-rendle"},
    "rp3beta": {"type": "rp3beta"},
    **{f"ease-l2-{l2}": {"type": "ease", "params": {"l2": l2}} for l2 in (100, 200, 1000, 2000)},
    "rerank": {"type": "rerank"},  # its default generators: ease + ials-rendle + popular
    "rerank-seed004": {"type": "rerank", "params": {  # the defaults before issue 27's measurement
        "generators": [{"type": "ials", "candidates": 100}, {"type": "item-knn", "candidates": 100},
                       {"type": "popular", "candidates": 50}],
        "n_estimators": 300, "num_leaves": 31, "min_child_samples": 20}},
    "rerank-300-trees": {"type": "rerank", "params": {"n_estimators": 300, "num_leaves": 31, "min_child_samples": 20,
                                                      "objective": "lambdarank"}},
    "rerank-lambdarank": {"type": "rerank", "params": {"objective": "lambdarank", "min_child_samples": 100}},  # the defaults before
}


def dataset_block(name: str, data: Path, out: Path = BENCH) -> dict:
    if name == "ml1m-synthetic":
        return {"format": "synthetic", "preset": "ml1m", "seed": 42, "out": str(out / "beyond-ml1m-synthetic")}
    if name == "ml-small-ge4":
        return {"format": "movielens", "path": str(data), "min_rating": 4, "out": str(out / "beyond-ml-small-ge4")}
    if name == "ml-small-all":  # every rating a like (no min_rating): the stand-in for ML-1M, all ratings
        return {"format": "movielens", "path": str(data), "out": str(out / "beyond-ml-small-all")}
    raise SystemExit(f"unknown data set {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="ml-small-ge4,ml1m-synthetic")
    parser.add_argument("--models", default="ease,dlae,edlae,sparse-ease,blend,blend-rp3beta",
                        help=f"any of {', '.join(MODELS)}")
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "datasets" / "ml-latest-small")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="the experiment's threads (0: all cores)")
    parser.add_argument("--out", type=Path, default=BENCH, help="folder for the YAML, data sets and runs")
    args = parser.parse_args()
    from recsys_cli.run import run_experiment

    data = args.data if args.data.exists() else Path("/work/shared/datasets/ml-latest-small")
    names = args.models.split(",")
    for name in args.sets.split(","):
        config = {
            "name": f"beyond-ease-{name}", "dataset": dataset_block(name, data, args.out),
            "split": {"strategy": "leave-one-random", "test_users": 0.2, "seed": 42, "folds": args.folds},
            "models": [{"name": model, **MODELS[model]} for model in names],
            "metrics": {"k": [100], "names": ["mrr"]}, "export": {"recommendations": 0, "similar": 0}, "seed": 42,
            "threads": args.threads,
        }
        path = args.out / f"beyond-ease-{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        started = time.perf_counter()
        summary = run_experiment(path, args.out / "runs")
        print(f"\n{name}: test MRR@100 over {args.folds} user folds (leave-one-random, seen items filtered), "
              f"defaults, {time.perf_counter() - started:.0f} s")
        print(f"{'model':20s} {'mean':>7s} {'sd':>7s}  {'pooled difference to EASE [95% CI]':36s} {'p (Holm)':>9s}  verdict")
        pooled = [r for r in summary["repeats"]["pooled"] if r["metric"] == "mrr@100"]
        for model in names:
            stats = summary["repeats"]["models"][model]["mrr@100"]
            line = f"{model:20s} {stats['mean']:7.4f} {stats['sd']:7.4f}  "
            row = next((r for r in pooled if {r["model_a"], r["model_b"]} == {model, "ease"}), None)
            if row is not None:
                sign = 1 if row["model_a"] == model else -1
                low, high = sorted((sign * row["ci95"][0], sign * row["ci95"][1]))
                line += (f"{sign * row['difference']:+.4f} [{low:+.4f}, {high:+.4f}] over {row['users']:5d} users "
                         f"{row['p_holm']:9.3f}  {row['verdict']}")
            print(line, flush=True)


if __name__ == "__main__":
    main()
