"""Adding a split strategy or a metric is one function plus one registry line: a toy of each,
registered here and nowhere else, is validated in a config, offered by `recsys split`, and
used by a whole run (docs/architecture.md shows the same two recipes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys_cli.data import split_strategies
from recsys_cli.data.split_strategies import SplitStrategy, StrategyParam
from recsys_cli.data.splits import TEST, TRAIN
from recsys_cli.evaluation import metrics
from recsys_cli.evaluation.metrics import Metric


def first_items(cells, rng, count: int = 1) -> np.ndarray:
    """The toy strategy: each user's `count` lowest-numbered items go to test (users with
    more than `count` items)."""
    order = np.lexsort((cells.items, cells.users))
    starts = np.searchsorted(cells.users[order], np.arange(cells.shape[0]))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - starts[cells.users[order]]
    sizes = np.bincount(cells.users, minlength=cells.shape[0])
    return np.where((rank < count) & (sizes[cells.users] > count), TEST, TRAIN).astype(np.int8)


def hits_at_k(cutoff) -> np.ndarray:
    """The toy metric: the number of held-out items found in the top K."""
    return cutoff.found


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setitem(split_strategies.STRATEGIES, "first-items", SplitStrategy(
        "first-items", f"{__name__}:first_items",
        (StrategyParam("count", int, 1, "items held out per user", (("ge", 1),)),), "toy: lowest item ids to test"))
    monkeypatch.setitem(metrics.METRICS, "hits", Metric("hits", "ranking", hits_at_k, description="toy: hits in top K"))


def test_a_registered_strategy_and_metric_run_end_to_end(toys, project):
    from recsys_cli.run import run_experiment

    (project / "toy.yaml").write_text(
        "name: toy\n"
        "dataset: {format: synthetic, preset: small, seed: 1, out: data/toy}\n"
        "split: {strategy: first-items, count: 2}\n"
        "models: [{name: pop, type: popular}]\n"
        "metrics: {k: [10], names: [mrr, hits]}\n")
    summary = run_experiment(project / "toy.yaml", project / "runs")
    assert set(summary["metrics"]["pop"]) == {"mrr@10", "hits@10"}
    run = project / "runs" / "toy" / "latest"
    split_info = json.loads((run / "manifest.json").read_text())["stages"]["split"]
    info = json.loads((project / split_info["path"] / "split.json").read_text())
    assert info["strategy"] == "first-items" and info["params"] == {"count": 2}
    # two held-out items per test user: the toy metric counts hits, recall is hits / 2
    assert 0 < summary["metrics"]["pop"]["hits@10"] <= 2


def test_a_registered_strategy_checks_its_declared_parameters(toys, project, cli):
    (project / "toy.yaml").write_text(
        "name: toy\ndataset: {format: synthetic, preset: small, out: data/toy}\n"
        "split: {strategy: first-items, count: 0, share: 0.5}\nmodels: [{name: pop, type: popular}]\n")
    result = cli("run", "toy.yaml")
    assert result.code == 2
    assert "split.share: unknown key; strategy 'first-items' takes count" in result.err
    assert "split.count: Input should be greater than or equal to 1 (got 0)" in result.err


def test_recsys_split_offers_every_declared_parameter():
    from typer.main import get_command

    from recsys_cli.cli.app import app

    options = {o for p in get_command(app).commands["split"].params for o in getattr(p, "opts", [])}
    declared = {"--" + name.replace("_", "-") for name in split_strategies.all_params()}
    assert declared <= options


def test_a_lower_is_better_metric_is_marked_by_its_declaration(monkeypatch):
    monkeypatch.setitem(metrics.METRICS, "misses", Metric("misses", "ranking", lambda c: c.k - c.found,
                                                          higher_is_better=False))
    assert {"misses", "avg_popularity"} <= metrics.lower_is_better()
    assert "misses" in metrics.selectable() and "rmse" not in metrics.selectable()
