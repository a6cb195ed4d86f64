"""Popularity: evaluating every test user against a bare numpy seen-filter (issue 28's target:
at most 1.5x).

The bare filter is the shortest fast numpy that returns the same lists: the popularity
ranking, each test user's seen items as ranks, and the p-th unseen entry of the ranking at rank
p + (seen ranks r_i, sorted, with r_i - i <= p), counted with one bincount and a cumulative sum.
It is checked to return exactly the ids that `Popular.recommend` returns. Against it:

- `recommend`: `Popular.recommend` of the test users' top-K (the model's seen-filter alone);
- `evaluate`: the evaluation stage's work, `evaluate()` with the metrics of the default run
  (MRR, recall, NDCG at K) and bootstrap intervals, as `recsys run` evaluates it.

Each figure is the best of --repeat, the pairs measured back to back in this process.
Data: the Dzen-shaped synthetic preset, leave-one-random over 20% of users (data/bench/).

Usage: python benchmarks/popularity_eval.py [--repeat 5] [--k 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import BENCH, dzen_dataset  # noqa: E402


def bare_filter(train, users: np.ndarray, k: int) -> np.ndarray:
    """Top-k most popular unseen items of each user, ties by item index: numpy alone."""
    import scipy.sparse as sp

    popularity = np.bincount(train.indices, minlength=train.shape[1])
    ranking = np.argsort(-popularity, kind="stable")
    rank_of = np.empty_like(ranking)
    rank_of[ranking] = np.arange(len(ranking))
    seen = train[users]
    ranks = sp.csr_matrix((seen.data, rank_of[seen.indices], seen.indptr), shape=seen.shape)
    ranks.sort_indices()
    rows = np.repeat(np.arange(len(users)), np.diff(ranks.indptr))
    before = ranks.indices - (np.arange(ranks.nnz) - ranks.indptr[rows])  # unseen entries before each seen one
    early = before < k
    shift = np.bincount(rows[early] * k + before[early], minlength=len(users) * k).reshape(len(users), k)
    return ranking[np.minimum(np.cumsum(shift, axis=1) + np.arange(k), len(ranking) - 1)]


def best(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    from recsys_cli.data.split_folder import load_split
    from recsys_cli.evaluation.evaluate import evaluate
    from recsys_cli.models.popular import Popular
    from recsys_cli.stages import split as split_stage

    split = load_split(split_stage.split(dzen_dataset(), "leave-one-random", BENCH / "dzen-split",
                                         {"test_users": 0.2}, seed=42).path)
    train, test, users = split.train, split.test, split.test_users
    model = Popular().fit(train)
    k = args.k
    print(f"popularity on the Dzen preset: {train.shape[0]:,} x {train.shape[1]:,}, {train.nnz:,} train likes, "
          f"{len(users):,} test users, top-{k}, seen items filtered; best of {args.repeat}; "
          f"load {os.getloadavg()[0]:.2f}")
    bare_s, bare_ids = best(lambda: bare_filter(train, users, k), args.repeat)
    ours_s, (ids, _) = best(lambda: model.recommend(users, train, k), args.repeat)
    assert np.array_equal(ids, bare_ids), "the bare filter and Popular.recommend disagree"
    eval_s, _ = best(lambda: evaluate(model, train, test, train, [k], ["mrr", "recall", "ndcg"]), args.repeat)
    print(f"{'bare numpy seen-filter':34s} {bare_s:7.3f} s  1.00x")
    print(f"{'Popular.recommend':34s} {ours_s:7.3f} s  {ours_s / bare_s:.2f}x")
    print(f"{'evaluate (metrics + intervals)':34s} {eval_s:7.3f} s  {eval_s / bare_s:.2f}x   target <= 1.5x")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
