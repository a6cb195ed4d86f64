"""Tuning a reviewer can trust (issue 27): the defaults are kept unless the best trial beats
them beyond noise, a resumed study never proposes a finished point again and reports every
session's time, and a study its timeout cut short says so."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import t as student

from recsys_cli.config.blocks import TuneBlock
from recsys_cli.data.splits import TEST, Cells, leave_one_random
from recsys_cli.report.tuning import selection_text, stop_text, time_text, tuning_markdown
from recsys_cli.tuning import selection, sessions
from recsys_cli.tuning.space import SpaceEntry
from recsys_cli.tuning.study import run_study


def _communities(users: int = 240, items: int = 40, seed: int = 0) -> tuple:
    """Two halves of the users, each liking its own half of the items (30%) and a little of
    the other (2%): a model that pools many neighbours ranks the held-out like well, one
    neighbour per item does not. Validation: one random like of half the users."""
    rng = np.random.default_rng(seed)
    own = (np.arange(users)[:, None] < users // 2) == (np.arange(items)[None, :] < items // 2)
    dense = rng.random((users, items)) < np.where(own, 0.3, 0.02)
    own_half = np.where(np.arange(users) < users // 2, 0, items // 2)
    dense[np.arange(users), rng.integers(0, items // 2, users) + own_half] = True  # one like at least
    cells = Cells.from_matrix(sp.csr_matrix(dense.astype(np.float32)))
    labels = leave_one_random(cells, np.random.default_rng(seed + 1), 0.5)
    train = cells.to_csr(labels != TEST)
    return train, cells.to_csr(labels == TEST), train, False


def _study(tmp_path, model_type, params, space, trials, name="s", timeout=None, seed=3, validation=None,
           confirm_folds=None, extra_folds=()):
    block = TuneBlock(trials=trials, metric="mrr@10", pruner="none")
    return run_study(model_type=model_type, base_params=params, block=block,
                     space={k: SpaceEntry(**v) for k, v in space.items()}, storage_path=tmp_path / "study.db",
                     study_name=name, validation=validation or _communities(), filter_seen=True, seed=seed,
                     threads=1, trials=trials, timeout=timeout, confirm_folds=confirm_folds, extra_folds=extra_folds)


# -- the keep-defaults rule -------------------------------------------------------------------

def test_one_sided_paired_t_by_hand():
    """diff 1, 2, 3, 4: mean 2.5, sd 1.2910, se 0.6455, t 3.873 on 3 df."""
    test = selection.one_sided_paired_t(np.array([1.0, 2.0, 3.0, 4.0]))
    se = np.std([1, 2, 3, 4], ddof=1) / 2
    assert test["difference"] == 2.5 and test["users"] == 4
    assert test["p_value"] == pytest.approx(student.sf(2.5 / se, 3))
    assert test["p_value"] == pytest.approx(0.01522, abs=1e-4)
    assert test["lower_bound_95"] == pytest.approx(2.5 - 2.35336 * se, abs=1e-4)
    assert selection.one_sided_paired_t(np.full(5, 0.1))["p_value"] == 0.0  # the same gain for everyone
    assert selection.one_sided_paired_t(np.zeros(5))["p_value"] == 1.0


def test_a_gain_inside_the_noise_keeps_the_defaults_and_a_clear_one_replaces_them():
    rng = np.random.default_rng(0)
    default = rng.random(400)
    noisy = default + rng.normal(0.002, 0.2, 400)  # a small mean gain, large spread: noise
    kept = selection.decide(default, noisy, best_is_default=False, folds=1)
    assert kept["kept_defaults"] and kept["p_value"] >= 0.05 and kept["lower_bound_95"] <= 0
    assert "defaults are kept" in kept["reason"] and kept["rule"] == selection.RULE
    better = selection.decide(default, default + rng.normal(0.05, 0.1, 400), best_is_default=False, folds=2)
    assert not better["kept_defaults"] and better["p_value"] < 0.05 and better["lower_bound_95"] > 0
    assert "over 2 folds" in better["reason"]
    assert selection.decide(None, None, best_is_default=True, folds=1)["kept_defaults"]
    assert not selection.decide(None, noisy, best_is_default=False, folds=1)["kept_defaults"]


def test_per_user_values_round_trip_as_float32():
    values = np.array([0.0, 1.0, 0.5, 1 / 3])
    assert np.allclose(selection.decode(selection.encode(values)), values, atol=1e-7)


def test_confirming_on_more_folds_only_where_the_fits_are_cheap():
    assert selection.confirm_cost(2.0) == 8.0  # defaults and best on 2 extra folds
    assert selection.worth_confirming(1.0, 40.0) and not selection.worth_confirming(1.0, 12.0)
    assert not selection.worth_confirming(None, 100.0)


def test_a_search_that_cannot_beat_the_defaults_keeps_them(tmp_path):
    """EASE searched within 0.1% of its default l2: every trial ranks as the defaults do, so
    none beats them beyond noise and the study hands on the defaults themselves."""
    outcome = _study(tmp_path, "ease", {"l2": 50.0}, {"l2": {"low": 50.0, "high": 50.05}}, trials=4)
    chosen = outcome.selection
    assert chosen["kept_defaults"] and outcome.best_params == {"l2": 50.0}
    assert chosen["rule"] == selection.RULE and ("beyond noise" in chosen["reason"] or "best trial" in chosen["reason"])
    assert outcome.trials.filter(outcome.trials["number"] == 0)["params_l2"][0] == 50.0  # trial 0: the defaults


def test_a_search_that_clearly_beats_the_defaults_replaces_them(tmp_path):
    """One neighbour per item against 20-39: the best trial wins beyond noise and is used."""
    outcome = _study(tmp_path, "item-knn", {"similarity": "cosine", "neighbors": 1},
                     {"neighbors": {"low": 20, "high": 39, "type": "int"}}, trials=3)
    chosen = outcome.selection
    assert not chosen["kept_defaults"] and chosen["p_value"] < 0.05 and chosen["difference"] > 0
    assert outcome.best_params == chosen["best_trial_params"] and outcome.best_params["neighbors"] >= 20
    assert chosen["users"] == 120  # one validation like for half of the 240 users
    text = selection_text({"selection": chosen})
    assert text.startswith("best trial used: the best trial beats the defaults") and "Rule:" in text
    assert outcome.record()["kept_defaults"] is False


def test_with_tune_folds_the_users_of_every_fold_are_paired(tmp_path):
    outcome = _study(tmp_path, "item-knn", {"similarity": "cosine", "neighbors": 1},
                     {"neighbors": {"low": 20, "high": 39, "type": "int"}}, trials=2,
                     extra_folds=[_communities(seed=5)])
    assert outcome.selection["folds"] == 2 and outcome.selection["users"] == 2 * 120
    assert "over 2 folds" in outcome.selection["reason"] and "confirm" not in outcome.selection


def test_a_run_that_keeps_the_defaults_trains_and_tests_the_default_model(project):
    """The kept defaults are the trained model: its spec is the default's, so the default
    is not trained again and its test score is the tuned one."""
    import json

    import yaml

    from recsys_cli.run import run_experiment

    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["models"] = [{"name": "ease", "type": "ease", "params": {"l2": 50.0},
                         "tune": {"trials": 3, "space": {"l2": {"low": 50.0, "high": 50.05}}}}]
    (project / "keep.yaml").write_text(yaml.safe_dump(config))
    summary = run_experiment(project / "keep.yaml", project / "runs")
    tuned = summary["tuning"]["ease"]
    assert tuned["selection"]["kept_defaults"] and tuned["best_params"] == {"l2": 50.0}
    assert tuned["default_test"] == tuned["test"] and "evaluate/ease@default" not in summary["stages"]
    manifest = json.loads((project / "runs" / "ci-smoke" / "latest" / "manifest.json").read_text())
    assert manifest["stages"]["tune/ease"]["kept_defaults"] is True
    assert manifest["stages"]["train/ease"]["params"]["l2"] == 50.0
    assert "ease: defaults kept" in (project / "runs" / "ci-smoke" / "latest" / "report.md").read_text()


@pytest.mark.parametrize("share", [1e9, 0.0])
def test_the_defaults_are_confirmed_on_more_folds_when_that_is_cheap(tmp_path, monkeypatch, share):
    """Cheap (the fits' share of the study's time under CONFIRM_SHARE): two more folds join
    the paired test, each user of each fold one pair; dear: the one validation part."""
    monkeypatch.setattr(selection, "CONFIRM_SHARE", share)
    drawn = []

    def confirm(count):
        drawn.append(count)
        return [_communities(seed=10 + fold) for fold in range(1, count)]

    outcome = _study(tmp_path, "item-knn", {"similarity": "cosine", "neighbors": 1},
                     {"neighbors": {"low": 20, "high": 39, "type": "int"}}, trials=3, confirm_folds=confirm)
    chosen = outcome.selection
    assert chosen["confirm"]["estimated_seconds"] > 0 and chosen["confirm"]["study_seconds"] > 0
    if share:
        assert chosen["confirm"]["done"] and drawn == [3] and chosen["folds"] == 3 and chosen["users"] == 3 * 120
    else:
        assert not chosen["confirm"]["done"] and drawn == [] and chosen["folds"] == 1 and chosen["users"] == 120
        assert "not confirmed on 3 folds" in selection_text({"selection": chosen})


# -- a resumed study --------------------------------------------------------------------------

def test_a_resumed_study_never_proposes_a_finished_point_and_adds_up_its_time(tmp_path):
    """Seeded TPE reopened with the same seed replayed trials 1, 2, ... (its startup draws
    come from the same stream); each session now seeds from (seed, trials so far)."""
    space = {"l2": {"low": 1.0, "high": 1000.0, "log": True}}
    first = _study(tmp_path, "ease", {"l2": 50.0}, space, trials=4)
    second = _study(tmp_path, "ease", {"l2": 50.0}, space, trials=8)
    trials = second.trials.sort("number")
    assert trials.height == 8 and trials["state"].to_list() == ["COMPLETE"] * 8
    assert trials["params_l2"].n_unique() == 8  # no proposal repeated
    assert second.sessions == 2 and first.sessions == 1
    assert second.study_seconds == pytest.approx(first.study_seconds + second.session_seconds, abs=1e-3)
    assert second.study_seconds > second.session_seconds
    assert sessions.sampler_seed(3, 0) == 3 and sessions.sampler_seed(3, 4) != sessions.sampler_seed(3, 5)


def test_a_proposal_equal_to_a_finished_trial_is_not_fitted_again(tmp_path):
    """Two choices and six trials: the repeats are pruned as duplicates, never refitted."""
    outcome = _study(tmp_path, "item-knn", {"similarity": "cosine", "neighbors": 5},
                     {"neighbors": {"choices": [5, 10]}}, trials=6)
    trials = outcome.trials
    complete = trials.filter(trials["state"] == "COMPLETE")
    assert complete["params_neighbors"].n_unique() == complete.height == 2
    duplicates = trials.filter(trials["duplicate_of"].is_not_null())
    assert duplicates.height == outcome.duplicates == 4 and set(duplicates["state"]) == {"PRUNED"}


def test_a_study_cut_short_by_its_timeout_says_so(tmp_path):
    outcome = _study(tmp_path, "ease", {"l2": 50.0}, {"l2": {"low": 1.0, "high": 1000.0, "log": True}},
                     trials=50, timeout=1e-3)
    assert outcome.stopped_by == "timeout" and outcome.complete < outcome.target == 50
    record = {**outcome.record(), "metric": "mrr@10", "objective": "", "default_validation": outcome.default_value,
              "best_validation": outcome.best_value, "test": None, "worse_on_test": None, "validation_spread": {}}
    assert stop_text(record) == f"stopped by its time budget at {outcome.complete} of 50 trials"
    assert f"{outcome.complete} of 50 (timeout)" in tuning_markdown({"ease": record})
    full = _study(tmp_path, "ease", {"l2": 50.0}, {"l2": {"low": 1.0, "high": 1000.0, "log": True}}, trials=3,
                  name="other")
    assert full.stopped_by == "trials" and stop_text({**full.record()}) == ""
    assert time_text({"study_seconds": 12.0, "sessions": 3}) == "12.0 s over 3 runs"


def test_a_study_without_stored_per_user_values_recomputes_them(tmp_path):
    """A study begun before per-user values were kept: the two needed are refitted, and the
    verdict is the one the stored values gave."""
    import sqlite3

    space = {"neighbors": {"low": 20, "high": 39, "type": "int"}}
    stored = _study(tmp_path, "item-knn", {"similarity": "cosine", "neighbors": 1}, space, trials=3)
    with sqlite3.connect(tmp_path / "study.db") as connection:  # Optuna forbids editing finished trials
        assert connection.execute("delete from trial_user_attributes where key = ?",
                                  (selection.PER_USER_ATTR,)).rowcount >= 2
    again = _study(tmp_path, "item-knn", {"similarity": "cosine", "neighbors": 1}, space, trials=3)
    assert again.complete == 3 and again.sessions == 2  # no new trial
    for key in ("kept_defaults", "users", "best_trial"):
        assert again.selection[key] == stored.selection[key]
    assert again.selection["difference"] == pytest.approx(stored.selection["difference"], abs=1e-6)
