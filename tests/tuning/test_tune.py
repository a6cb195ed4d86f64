"""`recsys tune`: resumable studies, the default-first guarantee, validation-only search."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import yaml

from recsys_cli.run import tune_experiment
from recsys_cli.data.split_folder import SplitData

def _finished(db: Path) -> dict[str, int]:
    """Trial counts by state; empty while Optuna is still creating its tables."""
    try:
        with sqlite3.connect(db) as connection:
            return dict(connection.execute("select state, count(*) from trials group by state").fetchall())
    except sqlite3.OperationalError:
        return {}


def test_tune_reports_default_first_and_writes_its_outputs(cli, project):
    result = cli("tune", "smoke.yaml", "--model", "ials", "--trials", "8", "--json")
    assert result.code == 0, result.err
    tuning = result.json()["tuning"]["ials"]
    assert tuning["test"] is not None and tuning["complete"] + tuning["pruned"] == 8
    run = Path(result.json()["path"])
    trials = pl.read_parquet(run / "tune" / "ials" / "trials.parquet").sort("number")
    complete = trials.filter(pl.col("state") == "COMPLETE")
    assert tuning["best_validation"] == complete["value"].max() and tuning["default_validation"] == trials["value"][0]
    defaults = yaml.safe_load((project / "smoke.yaml").read_text())["models"][2]["params"]
    first = trials.row(0, named=True)
    assert first["params_factors"] == defaults["factors"] and first["params_iterations"] == defaults["iterations"]
    best = yaml.safe_load((run / "tune" / "ials" / "best.yaml").read_text())[0]
    assert best["type"] == "ials" and best["params"]["factors"] == tuning["best_params"]["factors"]
    assert {"history.png", "slice.png"} <= {p.name for p in (run / "tune" / "ials").iterdir()}
    assert result.json()["metrics"]["ials"]["mrr@100"] == tuning["test"]


def test_a_killed_study_resumes_and_the_count_carries_on(project):
    command = [sys.executable, "-m", "recsys_cli", "tune", "smoke.yaml", "--model", "i2i", "--trials", "400", "--quiet"]
    process = subprocess.Popen(command, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = project / "runs" / "ci-smoke" / "tune" / "i2i" / "study.db"
    deadline = time.time() + 120
    while time.time() < deadline:
        if db.exists() and _finished(db).get("COMPLETE", 0) >= 3:
            break
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = _finished(db).get("COMPLETE", 0)
    assert done_before >= 3
    summary = tune_experiment(project / "smoke.yaml", project / "runs", models=["i2i"], trials=done_before + 2)
    states = _finished(db)
    assert states["COMPLETE"] + states.get("PRUNED", 0) == done_before + 2  # carried on, not restarted
    assert states.get("RUNNING", 0) == 0  # the trial in flight when killed is marked failed
    assert summary["tuning"]["i2i"]["complete"] == states["COMPLETE"]
    runs = [p for p in (project / "runs" / "ci-smoke").iterdir() if p.name[0].isdigit()]
    assert len(runs) == 1  # the interrupted run folder was resumed


def test_the_search_never_reads_test_data(project, monkeypatch):
    reads: list[str] = []
    original = SplitData.read_part

    def spy(self, name):
        reads.append(name)
        return original(self, name)

    monkeypatch.setattr(SplitData, "read_part", spy)
    from recsys_cli.tuning import study as tuning

    real_study = tuning.run_study
    marks = {}

    def study_then_mark(**kwargs):
        outcome = real_study(**kwargs)
        marks["after_search"] = len(reads)
        return outcome

    monkeypatch.setattr(tuning, "run_study", study_then_mark)
    tune_experiment(project / "smoke.yaml", project / "runs", models=["ease"], trials=4)
    during_search = reads[:marks["after_search"]]
    assert "test" not in during_search and {"valid_train", "valid"} <= set(during_search)
    assert "test" in reads[marks["after_search"]:]  # the final, single evaluation of the best


def test_run_with_tune_true_trains_the_best_parameters(cli, project):
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["models"] = [{"name": "ease", "type": "ease", "params": {"l2": 1.0}, "tune": {"trials": 6}}]
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))
    summary = cli("run", "smoke.yaml", "--json").json()
    best = summary["tuning"]["ease"]["best_params"]["l2"]
    manifest = yaml.safe_load((Path(summary["path"]) / "manifest.json").read_text())
    assert manifest["stages"]["train/ease"]["params"]["l2"] == best
    assert summary["status"] == "complete"


def test_bad_tune_blocks_are_reported(cli, project):
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["models"][2]["tune"] = {"trials": 5, "space": {"factorz": {"low": 8, "high": 64}, }}
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))
    result = cli("tune", "smoke.yaml")
    assert result.code == 2 and "models[2].tune.space: unknown parameter(s) factorz" in result.err
    config["models"][2]["tune"] = {"space": {"factors": {"low": 0, "high": 64}}, "metric": "mrr@100"}
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))
    result = cli("tune", "smoke.yaml")
    assert result.code == 2 and "models[2].tune.space.factors: 0" in result.err
    config["models"][2]["tune"] = {"metric": "mmr@100"}
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))
    assert "unknown metric 'mmr'" in cli("tune", "smoke.yaml").err
    assert cli("tune", "smoke.yaml", "--model", "nope").code == 2


def test_tuning_finds_better_parameters_than_a_bad_default(cli, project):
    """One neighbour per item is a poor item-kNN; the search must find a clearly better one,
    and the run must then train and test that one, not the default."""
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["models"] = [{"name": "knn", "type": "item-knn", "params": {"similarity": "cosine", "neighbors": 1},
                         "tune": {"trials": 6, "space": {"neighbors": {"low": 20, "high": 300, "log": True}}}}]
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))
    summary = cli("run", "smoke.yaml", "--json").json()
    tuning = summary["tuning"]["knn"]
    assert tuning["best_params"]["neighbors"] >= 20
    assert tuning["best_validation"] > 1.2 * tuning["default_validation"]
    manifest = yaml.safe_load((Path(summary["path"]) / "manifest.json").read_text())
    assert manifest["stages"]["train/knn"]["params"]["neighbors"] == tuning["best_params"]["neighbors"]


def _trial_intervals(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("select datetime_start, datetime_complete from trials "
                                  "where state = 'COMPLETE' order by number").fetchall()


def test_parallel_jobs_run_trials_at_the_same_time(cli, project):
    result = cli("tune", "smoke.yaml", "--model", "ials", "--trials", "7", "--jobs", "2", "--json")
    assert result.code == 0, result.err
    tuning = result.json()["tuning"]["ials"]
    assert tuning["complete"] + tuning["pruned"] == 7
    intervals = _trial_intervals(project / "runs" / "ci-smoke" / "tune" / "ials" / "study.db")
    overlapping = [(a, b) for a, b in zip(intervals, intervals[1:]) if b[0] < a[1]]
    assert overlapping, "with --jobs 2 some trial must start before the previous one finished"


def test_a_study_its_time_budget_stopped_goes_on_with_the_same_command(cli, project):
    """A study cut short by --timeout is not stored as the finished answer: the same command
    adds trials to it (a second session) instead of reusing the short one."""
    command = ("tune", "smoke.yaml", "--model", "i2i", "--trials", "400", "--timeout", "1", "--json")
    first = cli(*command)
    assert first.code == 0, first.err
    tuned = first.json()["tuning"]["i2i"]
    assert tuned["stopped_by"] == "timeout" and tuned["complete"] < 400
    stage = json.loads((Path(first.json()["path"]) / "manifest.json").read_text())["stages"]["tune/i2i"]
    assert stage["unfinished"] is True and "artifact" not in stage
    again = cli(*command).json()["tuning"]["i2i"]
    assert again["sessions"] == 2 and again["complete"] > tuned["complete"]
