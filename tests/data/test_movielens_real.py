"""Integration on real MovieLens ratings (../shared/datasets/ml-latest-small; skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cli.stages import ingest as ingest_stage
from recsys_cli.stages import split as split_stage
from recsys_cli.run import run_experiment
from recsys_cli.data.split_folder import load_split

from conftest import ML_LATEST_SMALL, read_matrix

pytestmark = pytest.mark.skipif(not (ML_LATEST_SMALL / "ratings.csv").exists(), reason="ml-latest-small not available")


@pytest.fixture(scope="module")
def expected():
    """Counts computed straight from ratings.csv, independently of the ingest code."""
    ratings = pl.read_csv(ML_LATEST_SMALL / "ratings.csv")
    liked = ratings.filter(pl.col("rating") >= 4)
    return {"ratings": ratings.height, "likes": liked.height, "users": liked["userId"].n_unique()}


@pytest.fixture(scope="module")
def likes(tmp_path_factory):
    return ingest_stage.ingest("movielens", ML_LATEST_SMALL, tmp_path_factory.mktemp("ml") / "ds", {"min_rating": 4})


def test_ratings_become_likes(likes, expected):
    counts = likes.info["counts"]
    assert counts["ratings"] == expected["ratings"]
    assert counts["events"] == counts["ratings"] - counts["ratings_below_min_rating"] == expected["likes"]
    assert counts["users"] == expected["users"] and likes.info["has_timestamps"]
    assert {"name", "genres"} <= set(likes.info["item_metadata"])


def test_seed_protocol_split(likes, expected, tmp_path):
    result = split_stage.split(likes.path, "leave-one-random", tmp_path / "split", {"test_users": 0.2}, seed=42, validation=True)
    test = read_matrix(tmp_path / "split" / "test.npz")
    assert np.all(np.diff(test.indptr) <= 1)
    assert result.info["parts"]["test"]["users"] == round(0.2 * expected["users"])


def test_time_splits_on_real_timestamps(likes, expected, tmp_path):
    last = split_stage.split(likes.path, "leave-last-out", tmp_path / "llo", {"n": 2})
    assert last.info["parts"]["test"]["interactions"] == 2 * last.info["parts"]["test"]["users"]
    cut = split_stage.split(likes.path, "temporal", tmp_path / "t", {"test_ratio": 0.1})
    held = cut.info["parts"]["test"]["interactions"] + cut.info["parts"].get("test_cold", {"interactions": 0})["interactions"]
    assert held == round(0.1 * expected["likes"])


def test_explicit_ratings_run_end_to_end(tmp_path, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ratings.yaml").write_text(yaml.safe_dump({
        "name": "ratings", "dataset": {"format": "movielens", "path": str(ML_LATEST_SMALL)},
        "split": {"strategy": "random-holdout", "test_ratio": 0.2},
        "models": [{"name": "funk-svd", "type": "funk-svd", "params": {"epochs": 10}}, {"name": "pop", "type": "popular"}],
        "metrics": {"k": [10], "names": ["mrr", "recall"]}, "export": {"recommendations": 0, "similar": 0},
    }))
    summary = run_experiment(tmp_path / "ratings.yaml", tmp_path / "runs")
    metrics = pl.read_csv(Path(summary["path"]) / "metrics.csv")
    funk = metrics.filter(pl.col("model") == "funk-svd").row(0, named=True)
    assert 0.8 < funk["rmse"] < 1.0 and funk["mae"] < funk["rmse"]
    assert metrics.filter(pl.col("model") == "pop")["rmse"].is_null().all()


def test_ranking_models_learn_from_interactions_on_a_rated_dataset(tmp_path, monkeypatch):
    """Co-occurrence counts users who share two items, unless the entry says `use_weights`
    (then it sums products of ratings); a rating model always sees the ratings."""
    import yaml

    from recsys_cli.models.registry import load_model

    monkeypatch.chdir(tmp_path)
    cooccurrence = {"similarity": "cooccurrence", "neighbors": 10_000}
    (tmp_path / "ratings.yaml").write_text(yaml.safe_dump({
        "name": "rated", "dataset": {"format": "movielens", "path": str(ML_LATEST_SMALL), "min_item_interactions": 60},
        "split": {"strategy": "random-holdout", "test_ratio": 0.2},
        "models": [{"name": "cooc", "type": "item-knn", "params": cooccurrence},
                   {"name": "cooc-weighted", "type": "item-knn", "use_weights": True, "params": cooccurrence},
                   {"name": "funk-svd", "type": "funk-svd", "params": {"epochs": 1}}],
        "metrics": {"k": [10], "names": ["mrr"]}, "export": {"recommendations": 0, "similar": 0},
    }))
    summary = run_experiment(tmp_path / "ratings.yaml", tmp_path / "runs", until="train")
    run = Path(summary["path"])
    train = load_split(Path(json.loads((run / "manifest.json").read_text())["stages"]["split"]["path"])).train
    assert train.shape[1] < 1000 and len(np.unique(train.data)) > 2  # small, and rated
    binary = (train > 0).astype(np.float32)
    for name, source in (("cooc", binary), ("cooc-weighted", train)):
        expected = (source.T @ source).tocsr()
        expected.setdiag(0)
        expected.eliminate_zeros()
        assert abs(load_model("item-knn", run / "models" / name).similarity - expected).max() < 1e-2, name
    assert load_model("funk-svd", run / "models" / "funk-svd").mu == pytest.approx(train.data.mean(), rel=1e-5)
