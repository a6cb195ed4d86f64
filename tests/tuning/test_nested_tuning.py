"""Nested tuning over repeats and folds (issue 27): every split tunes on its own validation
part, which never holds a test pair of that split; every seed is its own stream; the test
over repeats is corrected for the users random draws share; tuned is compared with default
over the splits and, for folds, per user."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import yaml

from recsys_cli.config.load import parse_experiment
from recsys_cli.core.seeds import derived_seed, stream_seed, validation_seed
from recsys_cli.data.folds import fold_seed
from recsys_cli.evaluation.repeats import (
    corrected_t_pvalue, paired_over_repeats, resampling_ratio, seeds_for_repeats, shared_test_users,
    tuned_against_default)
from recsys_cli.run import run_experiment
from recsys_cli.stages.tune import study_seed
from recsys_cli.tuning.sessions import sampler_seed


# -- seeds -------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 7, 42, 2**31 - 1])
def test_no_two_purposes_or_parts_share_a_seed(seed):
    """The experiment seed's purposes, five repeats' split seeds, each split's validation
    seed, four tune folds of each split and resumed samplers' seeds: all different. (Before,
    repeat 1's split seed was split 0's validation seed: both the first spawn child.)"""
    experiment = parse_experiment({"name": "s", "dataset": {"format": "synthetic", "preset": "small"},
                                   "split": {"strategy": "leave-one-random", "repeats": 5}, "seed": seed,
                                   "models": [{"name": "pop", "type": "popular"}]}, "seeds.yaml")
    seeds = experiment.seeds()
    splits = seeds_for_repeats(seeds["split"], 5)
    assert splits[0] == seeds["split"]  # split 0 is the plain split of the split seed
    named = {f"purpose {p}": v for p, v in seeds.items() if p not in ("validation", "split")}
    named |= {f"split {r}": s for r, s in enumerate(splits)}
    named |= {f"validation of split {r}": validation_seed(s) for r, s in enumerate(splits)}
    named |= {f"tune fold {f} of split {r}": fold_seed(s, f) for r, s in enumerate(splits) for f in range(1, 5)}
    named |= {f"sampler after {n} trials": sampler_seed(seed, n) for n in range(1, 5)}
    named |= {f"study of split {r}": study_seed(seed, r) for r in range(1, 5)}
    assert study_seed(seed, 0) == seed  # a single split's study keeps the experiment seed
    assert seeds["validation"] == validation_seed(splits[0])  # a single split keeps its validation part
    assert len(set(named.values())) == len(named), sorted(named.items(), key=lambda kv: kv[1])
    assert seed not in {v for k, v in named.items() if k.startswith(("sampler", "study"))}


def test_repeat_seeds_are_a_stream_of_their_own():
    seeds = seeds_for_repeats(42, 3)
    assert seeds[0] == 42 and seeds[1:] == [stream_seed(42, 0x9E9EA7, r) for r in (1, 2)]
    assert validation_seed(42) not in seeds and derived_seed(42, "split") not in seeds


# -- the test over repeats -------------------------------------------------------------------

def test_corrected_resampled_t_test_by_hand():
    """diff 1, 2, 3, 4 over J = 4 repeats, n_test/n_train = 0.25: s^2 = 1.6667, corrected
    se = sqrt(1.6667 (1/4 + 0.25)) = 0.91287, t = 2.7386 on 3 df, two-sided p = 0.0714; the
    plain paired t-test (ratio 0) gives se 0.6455, t 3.873, p = 0.0305."""
    diff = np.array([1.0, 2.0, 3.0, 4.0])
    assert corrected_t_pvalue(diff, 0.25) == pytest.approx(0.071422, abs=1e-5)
    assert corrected_t_pvalue(diff, 0.0) == pytest.approx(0.030466, abs=1e-5)
    assert corrected_t_pvalue(diff, float("inf")) == 1.0 and corrected_t_pvalue(np.zeros(4), 0.25) == 1.0
    values = {"a": {"m@1": np.array([2.0, 3.0, 4.0, 5.0])}, "b": {"m@1": np.array([1.0, 1.0, 1.0, 1.0])}}
    row = paired_over_repeats(values, ratio=0.25)[0]
    assert row["p_value"] == pytest.approx(0.071422, abs=1e-5) and row["verdict"] == "not significant"
    assert paired_over_repeats(values)[0]["verdict"] == "a better"  # uncorrected: 0.0305


def test_shared_users_and_the_ratio_by_hand():
    tests = [np.array([0, 1, 2, 3]), np.array([2, 3, 4, 5]), np.array([0, 5, 6, 7])]
    shared = shared_test_users(tests)
    assert shared["pairs"] == [[0, 1, 2], [0, 2, 1], [1, 2, 1]]
    assert shared["mean"] == pytest.approx(4 / 3) and shared["share"] == pytest.approx(1 / 3)
    trained = [np.arange(10)] * 3  # 4 tested of 10 with training data: 4 / 6
    assert resampling_ratio(tests, trained) == pytest.approx(4 / 6)
    assert resampling_ratio([np.arange(10)], [np.arange(10)]) == float("inf")


def test_tuned_against_default_by_hand():
    rows = tuned_against_default({
        "ease": {"metric": "mrr@10", "tuned": [0.3, 0.4], "default": [0.2, 0.2], "kept": [False, False],
                 "pooled": np.array([0.1, 0.2, 0.3, 0.2])},
        "knn": {"metric": "mrr@10", "tuned": [0.3, 0.4], "default": [0.3, 0.4], "kept": [True, True], "pooled": None},
    }, ratio=None, folds=True)
    ease, knn = rows
    assert ease["difference"] == pytest.approx(0.15) and ease["per_split"] == pytest.approx([0.1, 0.2])
    assert ease["pooled"]["users"] == 4 and ease["pooled"]["difference"] == pytest.approx(0.2)
    assert ease["pooled"]["ci95"][0] > 0 and ease["verdict"] == "tuned better"
    assert knn["kept_defaults"] == 2 and knn["verdict"].startswith("the same model")


# -- a run -----------------------------------------------------------------------------------

def _binary(path) -> sp.csr_matrix:
    matrix = sp.load_npz(path).tocsr()
    matrix.data[:] = 1
    return matrix


@pytest.mark.parametrize("extra", [{"repeats": 2}, {"folds": 2}])
def test_every_split_tunes_on_its_own_validation_part(project, extra):
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["split"].update(extra)
    config["models"] = [{"name": "pop", "type": "popular"},
                        {"name": "knn", "type": "item-knn", "params": {"similarity": "cosine", "neighbors": 1},
                         "tune": {"trials": 3, "space": {"neighbors": {"low": 20, "high": 300, "log": True}}}}]
    (project / "nested.yaml").write_text(yaml.safe_dump(config))
    run_experiment(project / "nested.yaml", project / "runs")
    run = project / "runs" / "ci-smoke" / "latest"
    repeats = json.loads((run / "metrics.json").read_text())["repeats"]
    manifest = json.loads((run / "manifest.json").read_text())
    studies = [manifest["stages"][f"{prefix}tune/knn"]["study"] for prefix in ("", "repeats/1/")]
    assert studies[0] != studies[1]  # one study per split, keyed by that split
    seeds = [manifest["stages"][f"{prefix}tune/knn"]["sampler_seed"] for prefix in ("", "repeats/1/")]
    assert seeds == [study_seed(config["seed"], 0), study_seed(config["seed"], 1)]  # each search its own proposals
    for folder in repeats["splits"]:
        train, test = _binary(f"{folder}/train.npz"), _binary(f"{folder}/test.npz")
        tuning = _binary(f"{folder}/valid_train.npz") + _binary(f"{folder}/valid.npz")
        assert tuning.multiply(test).nnz == 0  # no test pair of this split in its tuning data
        assert (tuning - tuning.multiply(train)).nnz == 0  # the tuning data is this split's train
        valid_users = np.count_nonzero(np.diff(_binary(f"{folder}/valid.npz").indptr))
        assert valid_users == np.count_nonzero(np.diff(train.indptr) >= 2)  # every train user with 2+, not a fold
    assert set(repeats["tuned_params"]) == {"0", "1"}
    assert all(p["knn"]["neighbors"] >= 20 for p in repeats["tuned_params"].values())
    assert "own validation part" in repeats["tuned_on"]
    row = repeats["tuned_vs_default"][0]
    assert row["model"] == "knn" and row["splits"] == 2 and row["kept_defaults"] == 0  # one neighbour is beaten
    default = [manifest["stages"][f"{prefix}evaluate/knn@default"]["summary"]["mrr@100"]
               for prefix in ("", "repeats/1/")]
    assert row["default"] == pytest.approx(np.mean(default)) and row["difference"] > 0
    assert all((run / prefix / "per_user" / "knn@default.parquet").exists() for prefix in ("", "repeats/1"))
    report = (run / "report.md").read_text()
    assert "### Tuned against default" in report and "### Tuned on each split" in report
    html = (run / "report.html").read_text()
    assert 'data-repeats="tuned-vs-default"' in html and 'data-repeats="tuned-params"' in html
    if "folds" in extra:
        import polars as pl

        parts = {name: pl.concat([pl.read_parquet(run / prefix / "per_user" / f"{name}.parquet")
                                  for prefix in ("", "repeats/1")]).sort("user_idx")
                 for name in ("knn", "knn@default")}
        by_hand = parts["knn"]["mrr@100"].to_numpy() - parts["knn@default"]["mrr@100"].to_numpy()
        assert row["pooled"]["users"] == len(by_hand) == sum(repeats["test_users"])
        assert row["pooled"]["difference"] == pytest.approx(by_hand.mean())
        assert "disjoint" in repeats["test"]
    else:
        assert "Nadeau & Bengio" in repeats["test"] and repeats["n_test_over_n_train"] > 0
        shared = repeats["shared_test_users"]
        assert shared["pairs"][0][:2] == [0, 1] and 0 < shared["share"] < 1
        assert "Test users shared by two draws" in report and "pooled" not in row
