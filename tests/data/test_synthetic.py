"""The built-in synthetic data: deterministic, shaped like the presets, and learnable."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys_cli.stages import ingest as ingest_stage
from recsys_cli.data.formats import synthetic
from recsys_cli.data.split_strategies import assign
from recsys_cli.data.splits import TEST, Cells


def test_same_seed_same_data_other_seed_other_data():
    a = synthetic.read(preset="small", seed=3).events.collect()
    b = synthetic.read(preset="small", seed=3).events.collect()
    c = synthetic.read(preset="small", seed=4).events.collect()
    assert a.equals(b) and not a.equals(c)


def test_small_preset_shape_names_and_time():
    tables = synthetic.read(preset="small", seed=42)
    events = tables.events.collect()
    spec = synthetic.PRESETS["small"]
    assert events["user_id"].n_unique() <= spec.users and events["item_id"].max() < spec.items
    assert events.select(pl.struct("user_id", "item_id").is_unique().all()).item()  # likes, once each
    assert events["timestamp"].min() >= synthetic.YEAR_START
    assert tables.items["name"].str.contains(r"\(").all() and tables.items["category"].n_unique() == spec.categories


def _mrr(scores: np.ndarray, train, test) -> float:
    """MRR@100 of the single held-out item per test user, seen items filtered."""
    scores = np.where(train.toarray() > 0, -np.inf, scores)
    target = test.indices  # one per test user, in user order
    rank = (scores > scores[np.arange(len(target)), target][:, None]).sum(axis=1)
    return float(np.where(rank < 100, 1.0 / (rank + 1), 0.0).mean())


def test_planted_tastes_are_learnable_far_beyond_popularity(tmp_path):
    """Item-item co-occurrence (seed 000's item2item) beats popularity several times over."""
    out = ingest_stage.ingest("synthetic", None, tmp_path / "ds", {"preset": "small", "seed": 42}).path
    import scipy.sparse as sp

    matrix = sp.load_npz(out / "matrix.npz").tocsr()
    cells = Cells.from_matrix(matrix)
    labels = assign(cells, "leave-one-random", {"test_users": 0.2}, 0)
    train, test = cells.to_csr(labels != TEST), cells.to_csr(labels == TEST)
    users = np.flatnonzero(np.diff(test.indptr))
    train_users, test_users = train[users], test[users]

    popularity = np.asarray(train.sum(axis=0)).ravel()
    pop_scores = np.tile(popularity, (len(users), 1)).astype(float)
    binary = (train > 0).astype(np.float64)
    norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel()) + 1e-9
    cosine = (binary.T @ binary).toarray() / norms[:, None] / norms[None, :]
    np.fill_diagonal(cosine, 0)
    knn_scores = (train_users > 0).astype(float) @ cosine

    pop_mrr = _mrr(pop_scores, train_users, test_users)
    knn_mrr = _mrr(np.asarray(knn_scores), train_users, test_users)
    assert knn_mrr > 2.5 * pop_mrr, (knn_mrr, pop_mrr)


def test_ml1m_preset_has_movielens_1m_shape():
    """6,040 users x 3,706 items and about a million distinct likes, as ML-1M's ratings."""
    events = synthetic.read(preset="ml1m", seed=42).events.collect()
    assert events["user_id"].n_unique() == 6_040 and events["item_id"].n_unique() == 3_706
    assert 0.95e6 <= events.height <= 1.1e6
    assert events.select(pl.struct("user_id", "item_id").is_unique().all()).item()
