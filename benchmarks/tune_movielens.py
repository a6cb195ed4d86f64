"""Tuned vs default iALS, iALS-Rendle and EASE with the seed protocol (issues 4 and 13).

Ratings >= 4 as likes, one random like held out for 20% of users (leave-one-random, seed 42),
validation carved out of train the same way (`--all-ratings`: every rating is a like;
`--synthetic ml1m`: the synthetic preset of ML-1M's shape instead of ml-latest-small). Each
model gets the same number of trials of its default tune space, maximising MRR@100 on
validation; the defaults and the best are each evaluated once on test. One test split of
~120 users is noisy: `--repeats N` then trains the defaults and the tuned parameters on N
seeded splits (split: {repeats: N}) and prints mean ± sd of test MRR@100 over them (the
parameters were chosen on the seed-42 split's validation part, so the other splits' test
users were not used for choosing, but their likes were partly seen during tuning).

Usage: python benchmarks/tune_movielens.py [--trials 50] [--all-ratings | --synthetic ml1m]
       [--models ials,ials-rendle,ease] [--repeats 0] [--data ../shared/datasets/ml-latest-small]
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
    parser.add_argument("--synthetic", help="a synthetic preset (e.g. ml1m) instead of ml-latest-small")
    parser.add_argument("--models", default="ials,ials-rendle,ease")
    parser.add_argument("--repeats", type=int, default=0, help="also score defaults and best on N seeded splits")
    args = parser.parse_args()
    if args.synthetic:
        name, title = f"synthetic-{args.synthetic}", f"synthetic preset {args.synthetic} (seed 42)"
        dataset = {"format": "synthetic", "preset": args.synthetic, "seed": 42, "out": str(BENCH / name)}
    else:
        likes = "all" if args.all_ratings else "ge4"
        name = f"ml-latest-small-{likes}"
        title = f"ml-latest-small ({'all ratings' if args.all_ratings else 'ratings >= 4'} as likes)"
        dataset = {"format": "movielens", "path": str(args.data), "out": str(BENCH / name)}
        if not args.all_ratings:
            dataset["min_rating"] = 4
    config = BENCH / f"tune-{name}.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",")
    config.write_text(yaml.safe_dump(experiment(f"tune-{name}", dataset, {"validation": True},
                                                [{"name": model, "type": model} for model in models])))
    runs = BENCH / "runs"
    defaults = run_experiment(config, runs)
    started = time.perf_counter()
    tuned = tune_experiment(config, runs, trials=args.trials)
    seconds = time.perf_counter() - started
    print(f"{title}, leave-one-random 20%, "
          f"{args.trials} trials per model, {seconds:.0f} s of tuning in all")
    print(f"{'model':11s} {'valid default':>13s} {'valid tuned':>11s} {'test default':>12s} {'test tuned':>10s} "
          f"{'pruned':>6s} {'tune s':>7s}  best parameters")
    for name, t in tuned["tuning"].items():
        print(f"{name:11s} {t['default_validation']:13.4f} {t['best_validation']:11.4f} "
              f"{defaults['metrics'][name]['mrr@100']:12.4f} {t['test']:10.4f} {t['pruned']:6d} {t['seconds']:7.0f}  "
              + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["best_params"].items()))
    if args.repeats > 1:
        entries = [{"name": model, "type": model} for model in models]
        entries += [{"name": f"{model}-tuned", "type": model, "params": tuned["tuning"][model]["best_params"]}
                    for model in models]
        repeated = BENCH / f"repeats-{name}.yaml"
        repeated.write_text(yaml.safe_dump(experiment(f"repeats-{name}", dataset, {"repeats": args.repeats}, entries)))
        started = time.perf_counter()
        summary = run_experiment(repeated, runs)["repeats"]
        print(f"test MRR@100 over {summary['count']} seeded splits (seeds {summary['seeds']}), "
              f"{time.perf_counter() - started:.0f} s: mean ± sd")
        for entry in entries:
            stats = summary["models"][entry["name"]]["mrr@100"]
            print(f"{entry['name']:17s} {stats['mean']:.4f} ± {stats['sd']:.4f}")


def experiment(name: str, dataset: dict, split: dict, models: list[dict]) -> dict:
    return {
        "name": name,
        "dataset": dataset,
        "split": {"strategy": "leave-one-random", "test_users": 0.2, "seed": 42, **split},
        "models": models,
        "metrics": {"k": [100], "names": ["mrr", "ndcg", "recall"]},
        "export": {"recommendations": 0, "similar": 0},
    }


if __name__ == "__main__":
    main()
