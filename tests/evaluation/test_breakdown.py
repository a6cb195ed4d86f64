"""Cold users and the metric breakdown by user activity and held-out item popularity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
import yaml

from recsys_cli.run import run_experiment
from recsys_cli.data.split_folder import load_split
from recsys_cli.evaluation.breakdown import (activity_quartiles, by_activity, by_item_popularity, combined,
                                             popularity_strata)

ROOT = Path(__file__).resolve().parents[2]


def test_popularity_strata_by_hand():
    # 10 items of 10 users each: cumulative shares .1 .2 | .3 .4 .5 | .6 ... 1.0; one unseen item.
    popularity = np.array([10.0] * 10 + [0.0])
    assert popularity_strata(popularity).tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    # The most popular item is head even when it alone holds more than 20%.
    assert popularity_strata(np.array([1.0, 90.0, 9.0])).tolist() == [2, 0, 2]


def test_activity_quartiles_by_hand():
    index, labels = activity_quartiles(np.array([1, 2, 3, 4, 5, 6, 7, 8]))
    assert index.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert labels == ["Q1: 1–2 items", "Q2: 3–4 items", "Q3: 5–6 items", "Q4: 7–8 items"]
    index, labels = activity_quartiles(np.array([5, 5, 5, 5]))  # ties stay together
    assert index.tolist() == [0, 0, 0, 0] and labels == ["Q1: 5–5 items"]


def test_by_activity_means_the_per_user_frame_per_quartile():
    per_user = pl.DataFrame({"user_idx": [0, 1, 2, 3], "n_test": [1, 1, 1, 1], "mrr@10": [1.0, 0.0, 0.5, 0.25]})
    lengths = np.array([1, 1, 9, 9])
    table = by_activity(per_user, lengths)
    assert table["stratum"].to_list() == ["Q1: 1–1 items", "Q2: 9–9 items"]
    assert table["users"].to_list() == [2, 2] and table["mrr@10"].to_list() == [0.5, 0.375]


def test_by_item_popularity_over_held_out_pairs_by_hand():
    top_ids = np.array([[3, 1, 2], [0, 4, 5]])
    test = sp.csr_matrix((np.ones(3), ([0, 0, 1], [1, 5, 0])), shape=(2, 6))
    strata = np.array([0, 0, 1, 1, 1, 2], dtype=np.int8)
    table = {r["stratum"]: r for r in by_item_popularity(top_ids, np.array([0, 1]), test, strata, [1, 3]).to_dicts()}
    # head pairs: (user 0, item 1) at position 1, (user 1, item 0) at position 0
    assert table["head"]["held_out_items"] == 2
    assert table["head"]["hit_rate@1"] == 0.5 and table["head"]["mrr@1"] == 0.5
    assert table["head"]["hit_rate@3"] == 1.0 and table["head"]["mrr@3"] == pytest.approx(0.75)
    assert table["tail"]["hit_rate@3"] == 0.0 and table["torso"]["held_out_items"] == 0
    assert table["torso"]["mrr@3"] is None


def test_combined_weights_warm_and_cold_by_their_user_counts():
    warm = {"mrr@10": 0.4, "coverage@10": 0.9}
    assert combined(warm, 3, {"mrr@10": 0.0, "coverage@10": 0.1}, 1) == {"mrr@10": pytest.approx(0.3)}
    assert combined(warm, 3, None, 0) == warm


def _run(tmp_path, monkeypatch, split: dict) -> tuple[Path, dict]:
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load((ROOT / "configs" / "ci-smoke.yaml").read_text())
    config.update(name="b", split=split, export={"recommendations": 0, "similar": 0},
                  models=[{"name": "pop", "type": "popular"},
                          {"name": "ials", "type": "ials", "params": {"factors": 8, "iterations": 3}}])
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(config))
    summary = run_experiment(tmp_path / "b.yaml", tmp_path / "runs")
    return Path(summary["path"]), summary


def test_a_temporal_split_evaluates_its_cold_users_by_popularity(tmp_path, monkeypatch, cli):
    run, summary = _run(tmp_path, monkeypatch, {"strategy": "temporal", "test_ratio": 0.3})
    metrics = json.loads((run / "metrics.json").read_text())
    split = load_split(Path(json.loads((run / "manifest.json").read_text())["stages"]["split"]["path"]))
    cold = split.read_part("test_cold")
    n_cold = int(np.count_nonzero(np.diff(cold.indptr)))
    assert n_cold > 0
    assert metrics["test_users"] == {"warm": len(split.test_users), "cold": n_cold} == summary["test_users"]
    assert metrics["protocol"]["cold_test_users"] == n_cold
    # The cold users' numbers are popularity's, evaluated on test_cold alone.
    from recsys_cli.evaluation.evaluate import evaluate
    from recsys_cli.models.popular import Popular

    expected = evaluate(Popular().fit(split.train), split.train, cold, sp.csr_matrix(cold.shape), [10, 100],
                        ["mrr", "ndcg", "recall", "hit_rate", "coverage", "novelty"])
    assert metrics["cold_users"]["mrr@100"] == pytest.approx(expected.summary["mrr@100"])
    share = n_cold / (n_cold + len(split.test_users))
    everyone = metrics["all_test_users"]["ials"]["mrr@100"]
    assert everyone == pytest.approx((1 - share) * metrics["models"]["ials"]["mrr@100"] + share * expected.summary["mrr@100"])
    for model in ("pop", "ials"):
        table = metrics["breakdown"][model]
        assert sum(r["users"] for r in table["activity"]) == len(split.test_users)
        assert sum(r["held_out_items"] for r in table["item_popularity"]) == split.test.nnz
    report = (run / "report.md").read_text()
    assert f"{n_cold:,} cold" in report and "popularity fallback (every model)" in report
    assert "by user activity" in report and "by popularity of the held-out item" in report
    # The terminal says it too (a second run reuses every stage).
    out = cli("run", tmp_path / "b.yaml", "--runs-dir", tmp_path / "runs").out
    assert f"{n_cold:,} cold" in out and "falls back to popularity" in out


def test_a_split_without_cold_users_says_zero(tmp_path, monkeypatch):
    run, summary = _run(tmp_path, monkeypatch, {"strategy": "leave-one-random", "test_users": 0.2})
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_users"]["cold"] == 0 and metrics["cold_users"] is None
    assert "0 cold" in (run / "report.md").read_text()
