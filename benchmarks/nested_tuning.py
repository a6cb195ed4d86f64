"""Nested tuning over 5 user folds (issue 27): default, tuned, validation and test per model,
and the pooled per-user difference to EASE.

The seed protocol (one random like held out for 20% of users, leave-one-random; MRR@100 over
the full catalogue, seen items filtered) with `split: {folds: 5}`, so every eligible user is
a test user once. Every split tunes each model on its own validation part, carved out of
that split's train (`recsys run`'s nested tuning): no test pair of a fold is ever seen by the
search that chose its parameters. Trial 0 is the model's defaults, kept unless the best trial
beats them beyond noise on validation. The reference is an untuned EASE (`ease`), scored on
the same folds; the pooled difference of each tuned model to it pairs every user of every
fold (95% t-interval, paired t-test). Data sets: ml-latest-small with ratings >= 4 as likes
(`--data`), the synthetic preset of ML-1M's shape (6,040 x 3,706, 1.04M likes), and
`movielens:PATH`, any MovieLens release (a zip or its folder) with every rating a like: the
issue's held-back check is `--datasets movielens:data/raw/ml-1m.zip --models ease,rerank`.

Usage: python benchmarks/nested_tuning.py [--trials 20] [--models ease,ials-rendle]
       [--datasets ml-latest-small,ml1m,movielens:PATH] [--folds 5]
       [--data ../shared/datasets/ml-latest-small]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH, ROOT  # noqa: E402

from recsys_cli.run import run_experiment  # noqa: E402

REFERENCE = "ease"  # the untuned EASE every tuned model is paired with


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per model on each fold")
    parser.add_argument("--models", default="ease,ials-rendle", help="model types to tune")
    parser.add_argument("--datasets", default="ml-latest-small,ml1m")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "ml-latest-small")
    args = parser.parse_args()
    for name in args.datasets.split(","):
        label, dataset, title = data_set(name, args.data)
        models = [{"name": REFERENCE, "type": "ease"}] + [
            {"name": f"{kind}-tuned", "type": kind, "tune": {"trials": args.trials}} for kind in args.models.split(",")]
        config = BENCH / f"nested-{label}.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(experiment(f"nested-{label}", dataset, args.folds, models)))
        started = time.perf_counter()
        summary = run_experiment(config, BENCH / "runs")
        report(title, summary, args, time.perf_counter() - started)


def data_set(name: str, data: Path) -> tuple[str, dict, str]:
    """(a label for the experiment's name, the dataset block, a title) of one --datasets entry."""
    if name.startswith("movielens:"):
        path = Path(name.removeprefix("movielens:"))
        label = f"likes-{path.name.removesuffix('.zip')}"
        return (label, {"format": "movielens", "path": str(path.resolve()), "out": str(BENCH / label)},
                f"{path.name} (every rating a like)")
    if name == "ml-latest-small":
        return (name, {"format": "movielens", "path": str(data), "min_rating": 4,
                       "out": str(BENCH / "ml-latest-small-ge4")}, "ml-latest-small (ratings >= 4 as likes)")
    return (name, {"format": "synthetic", "preset": name, "seed": 42, "out": str(BENCH / f"synthetic-{name}")},
            f"synthetic preset {name} (seed 42)")


def experiment(name: str, dataset: dict, folds: int, models: list[dict]) -> dict:
    return {
        "name": name, "dataset": dataset,
        "split": {"strategy": "leave-one-random", "test_users": 0.2, "seed": 42, "validation": True, "folds": folds},
        "models": models, "metrics": {"k": [100], "names": ["mrr"]},
        "export": {"recommendations": 0, "similar": 0},
    }


def validation(manifest: dict, name: str, folds: int) -> tuple[float, float, list]:
    """Mean over the folds of the defaults' and the trained parameters' validation MRR@100,
    and each fold's tune record."""
    records = [manifest["stages"][f"{'' if f == 0 else f'repeats/{f}/'}tune/{name}"] for f in range(folds)]
    default = [r["default_value"] for r in records]
    trained = [r["default_value"] if r["kept_defaults"] else r["best_value"] for r in records]
    return float(np.mean(default)), float(np.mean(trained)), records


def report(title: str, summary: dict, args, seconds: float) -> None:
    repeats = summary["repeats"]
    manifest = json.loads((Path(summary["path"]) / "manifest.json").read_text())
    print(f"\n{title}, leave-one-random, {args.folds} user folds ({sum(repeats['test_users']):,} test users), "
          f"nested tuning: {args.trials} trials per model per fold; {seconds:.0f} s in all")
    print(f"{'model':18s} {'valid default':>13s} {'valid tuned':>11s} {'test default':>12s} {'test tuned':>10s} "
          f"{'kept':>6s}  {'tuned - default per user [95%]':34s} {'- EASE per user [95%]':32s}")
    reference = repeats["models"][REFERENCE]["mrr@100"]["mean"]
    print(f"{REFERENCE + ' (untuned)':18s} {'':>13s} {'':>11s} {reference:12.4f} {'':>10s} {'':>6s}")
    against_ease = {(r["model_a"], r["model_b"]): r for r in repeats["pooled"] if r["metric"] == "mrr@100"}
    for row in repeats["tuned_vs_default"]:
        name = row["model"]
        valid_default, valid_tuned, records = validation(manifest, name, args.folds)
        pair = against_ease[(REFERENCE, name)]  # ease - model: turned round to model - ease
        difference, low, high = 0.0 - pair["difference"], 0.0 - pair["ci95"][1], 0.0 - pair["ci95"][0]
        own = row["pooled"]
        print(f"{name:18s} {valid_default:13.4f} {valid_tuned:11.4f} {row['default']:12.4f} {row['tuned']:10.4f} "
              f"{row['kept_defaults']:>3d}/{row['splits']:<2d}  "
              f"{own['difference']:+.4f} [{own['ci95'][0]:+.4f}, {own['ci95'][1]:+.4f}] p {own['p_value']:.3f}"
              f"    {difference:+.4f} [{low:+.4f}, {high:+.4f}] p {pair['p_value']:.3f}")
        for fold, record in enumerate(records):
            confirm = record["selection"].get("confirm") or {}
            trials = record["complete"] + record["pruned"]
            chosen = record["selection"]
            decided = ("kept (the best trial)" if "p_value" not in chosen else
                       f"{'kept' if chosen['kept_defaults'] else 'replaced'} (p {chosen['p_value']:.3f})")
            cheap = (f"confirm on 3 folds: {'yes' if confirm['done'] else 'no'}, ~{confirm['estimated_seconds']:.0f} s "
                     f"of fits against {confirm['study_seconds']:.0f} s of study; " if confirm else "")
            print(f"    fold {fold}: {trials} trials in {record['study_seconds']:.0f} s, defaults {decided}; {cheap}"
                  + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in record["best_params"].items()))


if __name__ == "__main__":
    main()
