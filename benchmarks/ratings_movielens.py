"""Rating prediction on ml-latest-small with a random 80/20 holdout (issue 6): funk-svd and
als-explicit against a global-mean and a regularised user+item-bias baseline (RMSE, MAE);
then SLIM next to EASE on the seed protocol (likes >= 4, leave-one-random 20%, MRR@100).

Usage: python benchmarks/ratings_movielens.py [--data ../shared/datasets/ml-latest-small]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH, ROOT  # noqa: E402

from recsys_cli.stages import ingest as ingest_stage  # noqa: E402
from recsys_cli.stages import split as split_stage  # noqa: E402
from recsys_cli.data.split_folder import load_split  # noqa: E402
from recsys_cli.evaluation.evaluate import evaluate  # noqa: E402
from recsys_cli.models.registry import build_model  # noqa: E402


def bias_baseline(train, test, reg: float = 10.0, iterations: int = 10):
    """mu + b_u + b_i with L2-regularised biases, alternating closed-form updates."""
    coo, mu = train.tocoo(), train.data.mean()
    b_u, b_i = np.zeros(train.shape[0]), np.zeros(train.shape[1])
    for _ in range(iterations):
        b_i = np.bincount(coo.col, coo.data - mu - b_u[coo.row], train.shape[1]) / (reg + np.bincount(coo.col, minlength=train.shape[1]))
        b_u = np.bincount(coo.row, coo.data - mu - b_i[coo.col], train.shape[0]) / (reg + np.bincount(coo.row, minlength=train.shape[0]))
    t = test.tocoo()
    return t.data - (mu + b_u[t.row] + b_i[t.col]), t.data - mu


def fit_and_score(model_type: str, split) -> tuple[dict, float]:
    """Fit a model with its defaults on train; (test summary with MRR@100, fit seconds)."""
    started = time.perf_counter()
    model = build_model(model_type).fit(split.train)
    seconds = time.perf_counter() - started
    return evaluate(model, split.train, split.test, split.train, [100], ["mrr"], bootstrap=False).summary, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "ml-latest-small")
    args = parser.parse_args()
    ratings = ingest_stage.ingest("movielens", args.data, BENCH / "ml-ratings").path
    split = load_split(split_stage.split(ratings, "random-holdout", BENCH / "ml-ratings-split", {"test_ratio": 0.2}).path)
    bias_errors, mean_errors = bias_baseline(split.train, split.test)
    print(f"ratings: {split.train.nnz:,} train, {split.test.nnz:,} test (random 80/20)")
    print(f"{'model':22s} {'RMSE':>7s} {'MAE':>7s} {'fit s':>7s}")
    print(f"{'global mean':22s} {np.sqrt(np.mean(mean_errors**2)):7.4f} {np.mean(np.abs(mean_errors)):7.4f}")
    print(f"{'user + item biases':22s} {np.sqrt(np.mean(bias_errors**2)):7.4f} {np.mean(np.abs(bias_errors)):7.4f}")
    for model_type in ("funk-svd", "als-explicit"):
        summary, seconds = fit_and_score(model_type, split)
        print(f"{model_type:22s} {summary['rmse']:7.4f} {summary['mae']:7.4f} {seconds:7.2f}")

    likes = ingest_stage.ingest("movielens", args.data, BENCH / "ml-likes", {"min_rating": 4}).path
    split = load_split(split_stage.split(likes, "leave-one-random", BENCH / "ml-likes-split", {"test_users": 0.2}).path)
    print("\nseed protocol (likes >= 4, leave-one-random 20%):")
    for model_type in ("ease", "slim"):
        summary, seconds = fit_and_score(model_type, split)
        print(f"{model_type:8s} mrr@100 {summary['mrr@100']:.4f}  fit {seconds:6.2f}s")


if __name__ == "__main__":
    main()
