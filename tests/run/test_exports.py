"""Exports people read carry original ids and item names, never a bare internal index."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from recsys_cli.run import run_experiment
from recsys_cli.serving.compare import compare_run

ROOT = Path(__file__).resolve().parents[2]


def test_exports_carry_original_ids_and_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "configs" / "ci-smoke.yaml", tmp_path / "smoke.yaml")
    run = Path(run_experiment(tmp_path / "smoke.yaml", tmp_path / "runs")["path"])
    compare_run(run, k=5, anchors=30)
    items = pl.read_parquet("data/ci-smoke/items.parquet")
    users = pl.read_parquet("data/ci-smoke/users.parquet")
    names = dict(zip(items["item_id"].to_list(), items["name"].to_list()))

    recommendations = pl.read_parquet(run / "recommendations" / "ials.parquet")
    assert recommendations.columns == ["user_id", "item_id", "name", "rank", "score"]
    assert all(names[i] == n for i, n in recommendations.select("item_id", "name").iter_rows())
    similar = pl.read_parquet(run / "similar" / "i2i.parquet")
    assert similar.columns == ["item_id", "name", "similar_item_id", "similar_name", "rank", "score"]
    assert all(names[i] == n and names[j] == m for i, n, j, m in
               similar.select("item_id", "name", "similar_item_id", "similar_name").iter_rows())
    per_user = pl.read_parquet(run / "per_user" / "ials.parquet")
    ids = dict(zip(users["user_idx"].to_list(), users["user_id"].to_list()))
    assert all(ids[i] == u for i, u in per_user.select("user_idx", "user_id").iter_rows())
    agreement = pl.read_parquet(run / "compare" / "similar_agreement.parquet")
    assert all(names[i] == n for i, n in agreement.select("item_id", "name").iter_rows())

    # No user-facing file anywhere in the run holds an internal index without the id beside it.
    for path in run.rglob("*.parquet"):
        columns = pl.read_parquet_schema(path)
        for index, original in (("user_idx", "user_id"), ("item_idx", "item_id")):
            assert index not in columns or original in columns, (path, columns)
