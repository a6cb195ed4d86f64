"""Is the tuned optimum inside the default space? (issue 15, fair tuning)

ml-latest-small with the seed protocol (ratings >= 4 as likes, one random like held out for
20% of users, seed 42, validation carved the same way). Each model's default space is
searched for MRR@100 on validation within a time budget; for every numeric parameter the
script prints the best value, where it sits in its range (0 = low end, 1 = high end; log
ranges measured in log), and EDGE when within 5% of a bound.

Usage: python benchmarks/tune_edges.py [--trials 40] [--seconds 240] [--models ials,rp3beta,item-knn]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH, ROOT  # noqa: E402

from recsys_cli.run import tune_experiment  # noqa: E402
from recsys_cli.tuning import study as tuning  # noqa: E402

EDGE = 0.05


def position(value: float, spec) -> float:
    low, high = float(spec.low), float(spec.high)
    if spec.log:
        low, high, value = math.log(low), math.log(high), math.log(value)
    return (value - low) / (high - low) if high > low else 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=240, help="time budget per model")
    parser.add_argument("--models", default="ials,rp3beta,item-knn")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "ml-latest-small")
    args = parser.parse_args()
    types = args.models.split(",")
    config = BENCH / "tune-edges.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({
        "name": "tune-edges",
        "dataset": {"format": "movielens", "path": str(args.data), "min_rating": 4, "out": str(BENCH / "ml-latest-small")},
        "split": {"strategy": "leave-one-random", "test_users": 0.2, "seed": 42, "validation": True},
        "models": [{"name": t, "type": t, "tune": {"trials": args.trials, "timeout": args.seconds}} for t in types],
        "metrics": {"k": [100], "names": ["mrr"]},
        "export": {"recommendations": 0, "similar": 0},
    }))
    started = time.perf_counter()
    tuned = tune_experiment(config, BENCH / "runs", trials=args.trials)
    print(f"ml-latest-small, leave-one-random 20%, up to {args.trials} trials / {args.seconds:.0f} s per model, "
          f"{time.perf_counter() - started:.0f} s in all")
    for name, t in tuned["tuning"].items():
        space = tuning.include_start(tuning.space_for(name, None), {})
        print(f"\n{name}: {t['complete']} complete, {t['pruned']} pruned; valid MRR@100 default {t['default_validation']:.4f}"
              f" -> best {t['best_validation']:.4f}; test {t['test']:.4f}")
        for param, value in t["best_params"].items():
            spec = space[param]
            if spec.choices is not None:
                print(f"  {param:15s} {value!s:>10s}  (one of {spec.choices})")
                continue
            where = position(value, spec)
            flag = "  EDGE" if where < EDGE or where > 1 - EDGE else ""
            print(f"  {param:15s} {value:10.4g}  in [{spec.low:g}, {spec.high:g}]{' log' if spec.log else ''}: "
                  f"at {where:.2f}{flag}")


if __name__ == "__main__":
    main()
