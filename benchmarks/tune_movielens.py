"""Tuned vs default iALS and EASE on ml-latest-small with the seed protocol (issue 4).

Ratings >= 4 as likes, one random like held out for 20% of users (leave-one-random, seed 42),
validation carved out of train the same way (`--all-ratings`: every rating is a like). 50
trials per model maximise MRR@100 on validation; the defaults and the best are each evaluated
once on test. Models: iALS, iALS-Rendle (issue 13) and EASE by default.

Usage: python benchmarks/tune_movielens.py [--trials 50] [--all-ratings] [--models ials,ials-rendle,ease]
       [--data ../shared/datasets/ml-latest-small]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH, ROOT  # noqa: E402

from recsys_cli.run import run_experiment, tune_experiment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "ml-latest-small")
    parser.add_argument("--all-ratings", action="store_true", help="every rating is a like (else ratings >= 4)")
    parser.add_argument("--models", default="ials,ials-rendle,ease")
    args = parser.parse_args()
    likes = "all" if args.all_ratings else "ge4"
    config = BENCH / f"tune-ml-latest-small-{likes}.yaml"
    dataset = {"format": "movielens", "path": str(args.data), "out": str(BENCH / f"ml-latest-small-{likes}")}
    if not args.all_ratings:
        dataset["min_rating"] = 4
    config.write_text(yaml.safe_dump({
        "name": f"tune-ml-latest-small-{likes}",
        "dataset": dataset,
        "split": {"strategy": "leave-one-random", "test_users": 0.2, "seed": 42, "validation": True},
        "models": [{"name": name, "type": name} for name in args.models.split(",")],
        "metrics": {"k": [100], "names": ["mrr", "ndcg", "recall"]},
        "export": {"recommendations": 0, "similar": 0},
    }))
    runs = BENCH / "runs"
    defaults = run_experiment(config, runs)
    started = time.perf_counter()
    tuned = tune_experiment(config, runs, trials=args.trials)
    seconds = time.perf_counter() - started
    print(f"ml-latest-small ({'all ratings' if args.all_ratings else 'ratings >= 4'} as likes), leave-one-random 20%, "
          f"{args.trials} trials per model, {seconds:.0f} s of tuning in all")
    print(f"{'model':11s} {'valid default':>13s} {'valid tuned':>11s} {'test default':>12s} {'test tuned':>10s} "
          f"{'pruned':>6s} {'tune s':>7s}  best parameters")
    for name, t in tuned["tuning"].items():
        print(f"{name:11s} {t['default_validation']:13.4f} {t['best_validation']:11.4f} "
              f"{defaults['metrics'][name]['mrr@100']:12.4f} {t['test']:10.4f} {t['pruned']:6d} {t['seconds']:7.0f}  "
              + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["best_params"].items()))


if __name__ == "__main__":
    main()
