"""One library, one model: fit on the exported train part, write the top-100 unseen items of
every test user. Run by benchmarks/peers.py, each call in its own process and, for a peer,
under that peer's own virtual environment, so only numpy and scipy are imported here besides
the library under test.

Usage: python benchmarks/peers_worker.py LIBRARY MODEL SPLIT.npz OUT.npz

SPLIT.npz holds the train cells (train_users, train_items), the catalogue size (n_items) and
the test users (test_users), all 0-based indices. OUT.npz gets `recommendations` (test users
x 100 item indices, -1 where a library returned fewer), `fit_seconds`, `recommend_seconds`
and `version`. Exit status 3 with one line on stderr: the library has no such model.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

K = 100
SEED = 42
# The shared hyper-parameters (each library's spelling of them is in its runner below).
FACTORS, REGULARIZATION, ALPHA, ITERATIONS = 64, 0.05, 10.0, 15
NEIGHBOURS = 100
EASE_L2 = 300.0


class NotAvailable(Exception):
    """The library has no implementation of this model."""


def to_rows(users: np.ndarray, items: np.ndarray, ranks: np.ndarray, test_users: np.ndarray) -> np.ndarray:
    """Long (user, item, 0-based rank) lists -> test users x K item matrix, -1 padded."""
    out = np.full((len(test_users), K), -1, dtype=np.int64)
    row = np.searchsorted(test_users, users)
    keep = ranks < K
    out[row[keep], ranks[keep]] = items[keep]
    return out


def long_ranks(users: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """0-based rank of each row by descending score within its user (input in any order)."""
    order = np.lexsort((-scores, users))
    ranks = np.empty(len(users), dtype=np.int64)
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    counts = np.diff(np.r_[starts, len(users)])
    ranks[order] = np.arange(len(users)) - np.repeat(starts, counts)
    return ranks


def run_recsys(model: str, train: sp.csr_matrix, test_users: np.ndarray):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from importlib.metadata import version

    from recsys_cli.models.registry import build_model

    params = {
        "popular": ("popular", {}),
        "item-knn": ("item-knn", {"similarity": "cosine", "neighbors": NEIGHBOURS}),
        "ials": ("ials", {"factors": FACTORS, "regularization": REGULARIZATION, "alpha": ALPHA,
                          "iterations": ITERATIONS}),
        "ease": ("ease", {"l2": EASE_L2}),
    }[model]
    fitted = build_model(*params, seed=SEED)
    start = time.perf_counter()
    fitted.fit(train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    ids, _ = fitted.recommend(test_users, train, K, filter_seen=True)
    out = np.full((len(test_users), K), -1, dtype=np.int64)
    out[:, :ids.shape[1]] = ids
    return out, fit_s, time.perf_counter() - start, version("recsys_cli")


def run_rectools(model: str, train: sp.csr_matrix, test_users: np.ndarray):
    from importlib.metadata import version

    import pandas as pd
    from rectools import Columns
    from rectools.dataset import Dataset
    from rectools import models

    coo = train.tocoo()
    interactions = pd.DataFrame({Columns.User: coo.row, Columns.Item: coo.col, Columns.Weight: 1.0,
                                 Columns.Datetime: pd.Timestamp("2020-01-01")})
    if model == "popular":
        recommender = models.PopularModel()  # popularity = number of users, as this tool's
    elif model == "item-knn":
        from implicit.nearest_neighbours import CosineRecommender
        recommender = models.ImplicitItemKNNWrapperModel(CosineRecommender(K=NEIGHBOURS))
    elif model == "ials":
        from implicit.als import AlternatingLeastSquares
        recommender = models.ImplicitALSWrapperModel(AlternatingLeastSquares(
            factors=FACTORS, regularization=REGULARIZATION, alpha=ALPHA, iterations=ITERATIONS,
            random_state=SEED))
    elif model == "ease":
        recommender = models.EASEModel(regularization=EASE_L2)
    start = time.perf_counter()
    dataset = Dataset.construct(interactions)
    recommender.fit(dataset)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    known = np.isin(test_users, coo.row)  # every test user has train likes under this split
    recs = recommender.recommend(users=test_users[known], dataset=dataset, k=K, filter_viewed=True)
    users = recs[Columns.User].to_numpy(np.int64)
    ranks = recs[Columns.Rank].to_numpy(np.int64) - 1
    out = to_rows(users, recs[Columns.Item].to_numpy(np.int64), ranks, test_users)
    return out, fit_s, time.perf_counter() - start, version("rectools")


def run_lenskit(model: str, train: sp.csr_matrix, test_users: np.ndarray):
    from importlib.metadata import version

    import pandas as pd
    from lenskit.batch import recommend
    from lenskit.data import from_interactions_df
    from lenskit.pipeline import topn_pipeline
    from lenskit.training import TrainingOptions

    if model == "popular":
        from lenskit.basic import PopScorer
        scorer = PopScorer()
    elif model == "item-knn":
        from lenskit.knn import ItemKNNScorer
        scorer = ItemKNNScorer(k=NEIGHBOURS, feedback="implicit")
    elif model == "ials":
        from lenskit.als import ImplicitMFScorer
        scorer = ImplicitMFScorer(embedding_size=FACTORS, regularization=REGULARIZATION, weight=ALPHA,
                                  epochs=ITERATIONS)
    elif model == "ease":
        from lenskit.knn import EASEScorer
        scorer = EASEScorer(regularization=EASE_L2)
    else:
        raise NotAvailable(f"LensKit {version('lenskit')} has no {model} scorer")
    coo = train.tocoo()
    start = time.perf_counter()
    data = from_interactions_df(pd.DataFrame({"user_id": coo.row, "item_id": coo.col}))
    pipeline = topn_pipeline(scorer, n=K)  # its candidate selector leaves out the user's train items
    pipeline.train(data, TrainingOptions(rng=SEED))
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    recs = recommend(pipeline, test_users, n=K).to_df()
    users = recs["user_id"].to_numpy(np.int64)
    items = recs["item_id"].to_numpy(np.int64)
    ranks = recs["rank"].to_numpy(np.int64) - 1 if "rank" in recs else long_ranks(users, recs["score"].to_numpy())
    out = to_rows(users, items, ranks, test_users)
    return out, fit_s, time.perf_counter() - start, version("lenskit")


RUNNERS = {"recsys_cli": run_recsys, "rectools": run_rectools, "lenskit": run_lenskit}


def main() -> None:
    library, model, split_path, out_path = sys.argv[1:5]
    split = np.load(split_path)
    n_users, n_items = int(split["n_users"]), int(split["n_items"])
    train = sp.csr_matrix((np.ones(len(split["train_users"]), dtype=np.float32),
                           (split["train_users"], split["train_items"])), shape=(n_users, n_items))
    test_users = split["test_users"]
    try:
        recs, fit_s, rec_s, version = RUNNERS[library](model, train, test_users)
    except NotAvailable as missing:
        print(missing, file=sys.stderr)
        sys.exit(3)
    np.savez(out_path, recommendations=recs, fit_seconds=fit_s, recommend_seconds=rec_s, version=version)


if __name__ == "__main__":
    main()
