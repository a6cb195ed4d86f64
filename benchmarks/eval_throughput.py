"""Evaluation throughput (test users per second) of every model against its own top-k.

For each model: fit on the split's train part, then time (a) `model.recommend` of the
test users' top-100 alone — the model's top-k, the floor — and (b) `evaluate` of the same
users (top-k + metrics + bootstrap interval). The ratio (b)/(a) is the evaluation's own
overhead; the target is ~1.0x (evaluation at the speed of the model's top-k; for a
non-personalised model, popularity, that is the cost of skipping seen items).

Data: the Dzen-shape synthetic preset cut to its top ITEMS items and USERS share of users
(a debug slice), split leave-one-random over 20% of users.

Usage: python benchmarks/eval_throughput.py [--items 20000] [--users 0.5] [--models popular,ials]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH  # noqa: E402

from recsys_cli.stages import ingest as ingest_stage  # noqa: E402
from recsys_cli.stages import split as split_stage  # noqa: E402
from recsys_cli.data.split_folder import load_split  # noqa: E402
from recsys_cli.data.filters import IngestFilters  # noqa: E402
from recsys_cli.evaluation.evaluate import evaluate  # noqa: E402
from recsys_cli.models.registry import model_class  # noqa: E402

MODELS = {
    "popular": {}, "random": {}, "item-knn": {"similarity": "bm25", "neighbors": 100},
    "ials": {"factors": 64, "iterations": 5}, "ials-rendle": {"factors": 64, "iterations": 5},
    "pure-svd": {"factors": 64}, "ease": {"l2": 300},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--users", type=float, default=0.5)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    name = f"dzen-{args.items // 1000}k-{int(args.users * 100)}"
    dataset = ingest_stage.ingest("synthetic", None, BENCH / name, {"preset": "dzen", "seed": 42},
                              IngestFilters(debug_slice=(args.items / 104_503, args.users))).path
    split = load_split(split_stage.split(dataset, "leave-one-random", BENCH / f"{name}-split",
                                               {"test_users": 0.2}).path)
    train, test, history, users = split.train, split.test, split.history, split.test_users
    print(f"{train.shape[0]:,} users x {train.shape[1]:,} items, {train.nnz:,} train interactions, "
          f"{len(users):,} test users, top-100, seen filtered")
    print(f"{'model':12s} {'fit s':>7s} {'top-k s':>8s} {'eval s':>7s} {'users/s':>9s} {'eval/top-k':>10s} {'mrr@100':>8s}")
    for model_type in args.models.split(","):
        if model_type == "ease" and train.shape[1] > 20_000:
            continue
        started = time.perf_counter()
        model = model_class(model_type)(MODELS[model_type]).fit(train)
        fitted = time.perf_counter()
        model.recommend(users, history, 100)
        ranked = time.perf_counter()
        result = evaluate(model, train, test, history, [100], ["mrr"])
        done = time.perf_counter()
        top_k, full = ranked - fitted, done - ranked
        print(f"{model_type:12s} {fitted - started:7.2f} {top_k:8.2f} {full:7.2f} {len(users) / full:9,.0f} "
              f"{full / top_k:10.2f} {result.summary['mrr@100']:8.4f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
