"""The seed protocol with 5 repeated splits on ml-latest-small: mean ± sd per model, untuned
and tuned (issue 15: one split is not a result).

Ratings >= 4 as likes; leave-one-random: one random like held out for 20% of the users; 5
independent seeded draws (split: {repeats: 5}). Every model is trained and scored on each;
the table gives the mean ± sample sd over the 5 and the paired t-test over repeats of the
best model against each other one (Holm-adjusted). Tuned models are searched on the first
split's validation part (few trials and a time budget each, so the whole script stays around
ten minutes on two cores) and their best parameters are used on every split.

Usage: python benchmarks/seed_protocol_repeats.py [--repeats 5] [--trials 12] [--seconds 60]
       [--models popular,item-knn,rp3beta,ials,bpr,ease]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH, ROOT  # noqa: E402

from recsys_cli.run import run_experiment  # noqa: E402

MODELS = [
    {"name": "popular", "type": "popular"},
    {"name": "item-knn", "type": "item-knn"},
    {"name": "rp3beta", "type": "rp3beta"},
    {"name": "ials", "type": "ials"},
    {"name": "bpr", "type": "bpr"},
    {"name": "ease", "type": "ease"},
]
METRICS = ["mrr@100", "ndcg@100", "recall@100"]


def experiment(name: str, data: Path, repeats: int, tune: dict | None, chosen: list[str]) -> Path:
    config = BENCH / f"{name}.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    models = [dict(m, **({"tune": tune} if tune and m["type"] != "popular" else {})) for m in MODELS if m["name"] in chosen]
    config.write_text(yaml.safe_dump({
        "name": name,
        "dataset": {"format": "movielens", "path": str(data), "min_rating": 4, "out": str(BENCH / "ml-latest-small")},
        "split": {"strategy": "leave-one-random", "test_users": 0.2, "seed": 42, "repeats": repeats},
        "models": models,
        "metrics": {"k": [100], "names": ["mrr", "ndcg", "recall"]},
        "export": {"recommendations": 0, "similar": 0},
    }))
    return config


def table(title: str, summary: dict, seconds: float) -> None:
    repeats = summary["repeats"]
    print(f"\n{title} ({repeats['count']} repeats, {seconds:.0f} s; seeds {repeats['seeds']})")
    print(f"{'model':10s} " + " ".join(f"{m:>17s}" for m in METRICS))
    for model, stats in repeats["models"].items():
        cells = [f"{stats[m]['mean']:.4f} ± {stats[m]['sd']:.4f}" + ("*" if repeats["significantly_best"][m] == model else " ")
                 for m in METRICS]
        print(f"{model:10s} " + " ".join(f"{c:>17s}" for c in cells))
    headline = METRICS[0]
    best = max(repeats["models"], key=lambda m: repeats["models"][m][headline]["mean"])
    print(f"paired over repeats, {headline}, {best} against:")
    for row in repeats["paired"]:
        if row["metric"] == headline and best in (row["model_a"], row["model_b"]):
            other = row["model_b"] if row["model_a"] == best else row["model_a"]
            sign = 1 if row["model_a"] == best else -1
            print(f"  {other:10s} diff {sign * row['difference']:+.4f} (sd {row['difference_sd']:.4f}), "
                  f"{best} ahead on {row['a_wins'] if sign > 0 else row['repeats'] - row['a_wins']}/{row['repeats']}, "
                  f"p Holm {row['p_holm']:.4f}: {row['verdict']}")
    for name, t in summary.get("tuning", {}).items():
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["best_params"].items())
        print(f"  tuned {name}: valid {t['default_validation']:.4f} -> {t['best_validation']:.4f} "
              f"({t['complete']} trials, {t['pruned']} pruned): {params}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=12, help="trials per tuned model")
    parser.add_argument("--seconds", type=float, default=60, help="tuning time budget per model")
    parser.add_argument("--models", default=",".join(m["name"] for m in MODELS))
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "ml-latest-small")
    args = parser.parse_args()
    runs = BENCH / "runs"
    print("ml-latest-small, ratings >= 4, leave-one-random 20% of users, MRR/NDCG/recall @100; "
          "* = significantly best over the repeats (paired t-test vs every other model, Holm, 5%)")
    for title, tune in (("untuned (defaults)", None),
                        (f"tuned ({args.trials} trials / {args.seconds:.0f} s per model on the first split's validation)",
                         {"trials": args.trials, "timeout": args.seconds})):
        name = "seed-repeats-tuned" if tune else "seed-repeats-default"
        started = time.perf_counter()
        summary = run_experiment(experiment(name, args.data, args.repeats, tune, args.models.split(",")), runs)
        table(title, summary, time.perf_counter() - started)


if __name__ == "__main__":
    main()
