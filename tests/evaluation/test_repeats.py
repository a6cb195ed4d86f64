"""Repeated evaluation: seeds, folds, aggregation by hand, and a run end to end."""

import json

import numpy as np
import polars as pl
import pytest
import yaml

from recsys_cli.run import run_experiment
from recsys_cli.config.load import parse_experiment
from recsys_cli.data.split_strategies import assign
from recsys_cli.data.splits import TEST, Cells
from recsys_cli.core.errors import InputError
from recsys_cli.evaluation.repeats import (
    aggregate, best_from_pairs, paired_over_repeats, per_repeat_values, seeds_for_repeats)

from conftest import dense


def test_repeat_seeds_start_with_the_configs_and_are_spawned_not_incremented():
    seeds = seeds_for_repeats(42, 4)
    assert seeds[0] == 42 and len(set(seeds)) == 4 and 43 not in seeds
    assert seeds == seeds_for_repeats(42, 4) and seeds_for_repeats(42, 1) == [42]


def test_aggregate_and_paired_comparison_by_hand():
    per_repeat = [{"a": {"mrr@10": 1.0}, "b": {"mrr@10": 0.0}, "c": {"mrr@10": 1.0}},
                  {"a": {"mrr@10": 2.0}, "b": {"mrr@10": 1.0}, "c": {"mrr@10": 3.0}},
                  {"a": {"mrr@10": 3.0}, "b": {"mrr@10": 2.0}, "c": {"mrr@10": 2.0}}]
    values = per_repeat_values(per_repeat)
    stats = aggregate(values)
    assert stats["a"]["mrr@10"]["mean"] == 2.0 and stats["a"]["mrr@10"]["sd"] == pytest.approx(1.0)
    assert stats["a"]["mrr@10"]["values"] == [1.0, 2.0, 3.0]
    # mean 2, sd 1, n 3: half-width t(0.975, 2) / sqrt(3) = 4.3027 / 1.7321 = 2.4841
    assert stats["a"]["mrr@10"]["ci95"] == pytest.approx([2 - 2.4841, 2 + 2.4841], abs=1e-4)
    rows = {(r["model_a"], r["model_b"]): r for r in paired_over_repeats(values)}
    assert rows[("a", "b")]["difference"] == 1.0 and rows[("a", "b")]["difference_sd"] == 0.0
    assert rows[("a", "b")]["p_value"] == 0.0 and rows[("a", "b")]["verdict"] == "a better"
    assert rows[("a", "b")]["a_wins"] == 3
    assert rows[("a", "c")]["verdict"] == "not significant"  # differences 0, -1, +1
    lower = {(r["model_a"], r["model_b"]): r for r in paired_over_repeats(values, lower_is_better={"mrr"})}
    assert lower[("a", "b")]["verdict"] == "b better"
    assert best_from_pairs(values, paired_over_repeats(values), set()) == {"mrr@10": None}  # c ties a


def test_bold_over_repeats_agrees_with_the_paired_table():
    values = {"a": {"m@1": np.array([3.0, 4.0, 5.0, 6.0])}, "b": {"m@1": np.array([1.0, 2.0, 3.0, 4.0])},
              "c": {"m@1": np.array([0.0, 1.1, 1.9, 3.2])}}
    paired = paired_over_repeats(values)
    assert best_from_pairs(values, paired, set()) == {"m@1": "a"}
    assert best_from_pairs(values, paired_over_repeats(values, lower_is_better={"m"}), {"m"}) == {"m@1": "c"}


def test_user_folds_partition_the_eligible_users():
    rng = np.random.default_rng(0)
    matrix = (rng.random((40, 12)) < 0.4).astype(np.float32)
    matrix[:, 0] = 1
    import scipy.sparse as sp

    cells = Cells.from_matrix(sp.csr_matrix(matrix))
    held = [np.flatnonzero(dense(cells.to_csr(assign(cells, "leave-one-random", {"folds": 3, "fold": f}, 7) == TEST)).sum(1))
            for f in range(3)]
    assert sum(len(h) for h in held) == np.count_nonzero(matrix.sum(1) >= 2)
    assert len(np.unique(np.concatenate(held))) == sum(len(h) for h in held)  # disjoint
    assert max(len(h) for h in held) - min(len(h) for h in held) <= 1
    with pytest.raises(InputError, match="fold"):
        assign(cells, "leave-one-random", {"folds": 3, "fold": 3}, 7)


@pytest.mark.parametrize("split, message", [
    ({"path": "data/x/splits/s", "repeats": 3}, "need `strategy`"),
    ({"strategy": "temporal", "test_ratio": 0.2, "folds": 3}, "`folds` partitions test users"),
    ({"strategy": "leave-one-random", "folds": 3, "repeats": 2}, "not both"),
])
def test_bad_repeat_configs_are_refused(split, message):
    raw = {"name": "t", "dataset": "data/x", "split": split, "models": [{"name": "p", "type": "popular"}]}
    with pytest.raises(InputError, match=message):
        parse_experiment(raw, "x.yaml")


@pytest.mark.parametrize("extra", [{"repeats": 2}, {"folds": 2}])
def test_a_run_with_repeats_reports_every_split(project, extra):
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["split"].update(extra)
    config["models"] = [m for m in config["models"] if m["name"] in ("pop", "ease")]
    (project / "rep.yaml").write_text(yaml.safe_dump(config))
    summary = run_experiment(project / "rep.yaml", project / "runs")
    run = project / "runs" / "ci-smoke" / "latest"
    metrics = json.loads((run / "metrics.json").read_text())
    repeats = metrics["repeats"]
    assert repeats["count"] == 2 and len(repeats["seeds"]) == 2 and summary["repeats"]["count"] == 2
    ease = repeats["models"]["ease"]["mrr@100"]
    assert ease["values"][0] == pytest.approx(metrics["models"]["ease"]["mrr@100"])  # the first split
    assert ease["mean"] == pytest.approx(np.mean(ease["values"]))
    low, high = metrics["intervals_95"]["ease"]["mrr@100"]  # the first split's interval, not the last repeat's
    assert low <= metrics["models"]["ease"]["mrr@100"] <= high
    assert (run / "repeats" / "1" / "per_user" / "ease.parquet").exists()
    assert {r["model_a"] for r in repeats["paired"]} == {"pop"}
    csv = pl.read_csv(run / "metrics.csv")
    assert csv["mrr@100_mean"].to_list() == pytest.approx([repeats["models"][m]["mrr@100"]["mean"] for m in csv["model"]])
    assert "## Repeated evaluation (2 " in (run / "report.md").read_text()
    if "folds" in extra:
        tests = [set(np.flatnonzero(np.diff(np.load(f"{p}/test.npz")["indptr"]))) for p in repeats["splits"]]
        assert not tests[0] & tests[1]
        # Pooled per user: every user of both folds once, the same difference as by hand.
        parts = [pl.read_parquet(run / prefix / "per_user" / f"{m}.parquet").sort("user_idx")
                 for prefix in ("", "repeats/1") for m in ("pop", "ease")]
        pop = np.concatenate([parts[0]["mrr@100"], parts[2]["mrr@100"]])
        ease_users = np.concatenate([parts[1]["mrr@100"], parts[3]["mrr@100"]])
        row = next(r for r in repeats["pooled"] if r["metric"] == "mrr@100")
        assert row["users"] == len(tests[0]) + len(tests[1]) == len(pop)
        assert row["difference"] == pytest.approx((pop - ease_users).mean())
        assert row["ci95"][0] <= row["difference"] <= row["ci95"][1] and 0 < row["p_value"] <= 1
        assert "### Paired per user, pooled over the folds" in (run / "report.md").read_text()
    else:
        assert "pooled" not in repeats


def test_pooled_comparison_by_hand():
    """Over 8 users a - b = 1 for everyone: a sure difference; c equals a: none; b - c by
    hand: differences -1 for half the users, 0 for the rest."""
    from recsys_cli.evaluation.repeats import pooled_over_folds

    values = {"a": {"m@1": np.ones(8)}, "b": {"m@1": np.zeros(8)}, "c": {"m@1": np.ones(8)}}
    rows = {(r["model_a"], r["model_b"]): r for r in pooled_over_folds(values)}
    assert rows["a", "b"]["difference"] == 1.0 and rows["a", "b"]["ci95"] == [1.0, 1.0] and rows["a", "b"]["users"] == 8
    assert rows["a", "b"]["p_value"] == 0.0 and rows["a", "b"]["verdict"] == "a better"
    from scipy.stats import t

    half = {"m@1": np.array([1.0, 1, 1, 1, 0, 0, 0, 0])}
    row = pooled_over_folds({"x": half, "y": {"m@1": np.zeros(8)}})[0]
    margin = t.ppf(0.975, 7) * np.std(half["m@1"], ddof=1) / np.sqrt(8)
    assert row["ci95"] == pytest.approx([0.5 - margin, 0.5 + margin])
    assert rows["a", "c"]["difference"] == 0.0 and rows["a", "c"]["verdict"] == "not significant"
    lower = {(r["model_a"], r["model_b"]): r for r in pooled_over_folds(values, lower_is_better={"m"})}
    assert lower["a", "b"]["verdict"] == "b better"
