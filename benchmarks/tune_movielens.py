"""Tuned vs default iALS, iALS-Rendle and EASE with the seed protocol (issues 4 and 13).

Ratings >= 4 as likes, one random like held out for 20% of users (leave-one-random, seed 42),
validation carved out of train the same way (`--all-ratings`: every rating is a like;
`--synthetic ml1m`: the synthetic preset of ML-1M's shape instead of ml-latest-small). Each
model gets the same number of trials of its default tune space, maximising MRR@100 on
validation (`--tune-folds F`: the mean over F seeded validation folds, `tune: {folds: F}`);
the defaults and the best are each evaluated once on test. One test split of ~130 users is
noisy: `--test-folds N` makes the split N disjoint user folds (`split: {folds: N}`), so every
eligible user is a test user once; models are tuned on fold 0's validation part (carved out
of fold 0's train: the other folds' test likes were seen while tuning, never their test
role), then the defaults and the tuned parameters are trained and scored on every fold, and
the mean ± sd over folds, the paired t-test over folds of each tuned pair, and the paired
difference per user pooled over the folds (95% t-interval, paired t-test, Holm) are printed.
`--data` takes any MovieLens folder or zip the movielens reader knows (ml-1m, ml-20m, ...).

Usage: python benchmarks/tune_movielens.py [--trials 50] [--all-ratings | --synthetic ml1m]
       [--models ials,ials-rendle,ease] [--tune-folds 1] [--test-folds 0]
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
    parser.add_argument("--synthetic", help="a synthetic preset (e.g. ml1m) instead of ml-latest-small")
    parser.add_argument("--models", default="ials,ials-rendle,ease")
    parser.add_argument("--tune-folds", type=int, default=1, help="validation folds averaged by each trial")
    parser.add_argument("--test-folds", type=int, default=0, help="score on N disjoint user folds (0: one split)")
    args = parser.parse_args()
    if args.synthetic:
        name, title = f"synthetic-{args.synthetic}", f"synthetic preset {args.synthetic} (seed 42)"
        dataset = {"format": "synthetic", "preset": args.synthetic, "seed": 42, "out": str(BENCH / name)}
    else:
        likes = "all" if args.all_ratings else "ge4"
        name = f"{args.data.resolve().name}-{likes}"  # any MovieLens folder or zip: ml-1m, ml-latest-small
        title = f"{args.data.resolve().name} ({'all ratings' if args.all_ratings else 'ratings >= 4'} as likes)"
        dataset = {"format": "movielens", "path": str(args.data), "out": str(BENCH / name)}
        if not args.all_ratings:
            dataset["min_rating"] = 4
    config = BENCH / f"defaults-{name}.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",")
    split = {"validation": True, **({"folds": args.test_folds} if args.test_folds > 1 else {})}
    plain = [{"name": model, "type": model} for model in models]
    config.write_text(yaml.safe_dump(experiment(f"defaults-{name}", dataset, split, plain)))
    tune_config = BENCH / f"tune-{name}-folds{args.tune_folds}.yaml"  # the same split: same block, same seed
    tune_config.write_text(yaml.safe_dump(experiment(f"tune-{name}", dataset, split, [
        {**entry, "tune": {"folds": args.tune_folds}} for entry in plain])))
    runs = BENCH / "runs"
    defaults = run_experiment(config, runs)
    started = time.perf_counter()
    tuned = tune_experiment(tune_config, runs, trials=args.trials)
    seconds = time.perf_counter() - started
    print(f"{title}, leave-one-random {'20%' if args.test_folds < 2 else f'{args.test_folds} user folds'}, "
          f"{args.trials} trials per model on {args.tune_folds} validation fold(s), {seconds:.0f} s in all")
    print(f"{'model':11s} {'valid default':>13s} {'valid tuned':>11s} {'test default':>12s} {'test tuned':>10s} "
          f"{'pruned':>6s} {'tune s':>7s}  best parameters")
    for name, t in tuned["tuning"].items():
        print(f"{name:11s} {t['default_validation']:13.4f} {t['best_validation']:11.4f} "
              f"{defaults['metrics'][name]['mrr@100']:12.4f} {t['test']:10.4f} {t['pruned']:6d} {t['seconds']:7.0f}  "
              + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["best_params"].items()))
    if args.test_folds > 1:
        print(f"test MRR@100 over {args.test_folds} user folds (every eligible user tested once): mean ± sd")
        for label, summary in [("default", defaults["repeats"]), ("tuned", tuned["repeats"])]:
            for model in models:
                stats = summary["models"][model]["mrr@100"]
                print(f"{model:11s} {label:7s} {stats['mean']:.4f} ± {stats['sd']:.4f}  "
                      + " ".join(f"{v:.4f}" for v in stats["values"]))
        print("tuned pairs, paired t-test over the folds (Holm-adjusted):")
        for row in tuned["repeats"]["paired"]:
            if row["metric"] == "mrr@100":
                print(f"{row['model_a']} - {row['model_b']}: {row['difference']:+.4f} ± {row['difference_sd']:.4f}, "
                      f"{row['a_wins']}/{row['repeats']} folds won, p {row['p_value']:.3f} (Holm {row['p_holm']:.3f}): "
                      f"{row['verdict']}")
        print("tuned pairs, per user pooled over the folds (95% t-interval, paired t-test, Holm):")
        for row in tuned["repeats"]["pooled"]:
            if row["metric"] == "mrr@100":
                low, high = row["ci95"]
                print(f"{row['model_a']} - {row['model_b']}: {row['difference']:+.4f} [{low:+.4f}, {high:+.4f}] "
                      f"over {row['users']} users, p {row['p_value']:.3f} (Holm {row['p_holm']:.3f}): {row['verdict']}")


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
