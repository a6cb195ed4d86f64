"""The nightly loop's gate (issue 26): conditions on any model's metric, absolute and relative
to the baseline run, paired where the test pairs are the same and unpaired where they are
not; data checks before training; rolling windows; `passed` beside `latest`; and a
three-night simulation as cron would run it."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from recsys_cli.config.gate import parse_condition

from nightly_project import DAY, experiment, manifest, write_plays


# -- the grammar --------------------------------------------------------------------------------
@pytest.mark.parametrize("text, model, measure, op, scale, offset", [
    ("ials.mrr@100 >= baseline - 0.005", "ials", "mrr@100", ">=", 1.0, -0.005),
    ("ease.mrr@100 >= 0.12", "ease", "mrr@100", ">=", 0.0, 0.12),
    ("ials.ndcg@10 >= 0.98 * baseline", "ials", "ndcg@10", ">=", 0.98, 0.0),
    ("my.model.recall@20 > baseline + 1e-3", "my.model", "recall@20", ">", 1.0, 0.001),
    ("interactions >= 0.7 * baseline", None, "interactions", ">=", 0.7, 0.0),
    ("new_items <= 0.3", None, "new_items", "<=", 0.0, 0.3),
])
def test_the_condition_grammar(text, model, measure, op, scale, offset):
    condition = parse_condition(text)
    assert (condition.model, condition.measure, condition.op, condition.scale) == (model, measure, op, scale)
    assert condition.offset == pytest.approx(offset)
    assert condition.threshold(0.2) == pytest.approx(scale * 0.2 + offset)


@pytest.mark.parametrize("text, expected", [
    ("ials.mrr@100 => 0.1", "is not a condition"),
    ("ials.mrr@100 >= baselin", "threshold 'baselin'"),
    ("ials >= 0.1", "neither MODEL.METRIC@K"),
    ("users >= 2 * base", r"threshold '2 \* base'"),
])
def test_a_bad_condition_says_what_the_grammar_expects(text, expected):
    with pytest.raises(ValueError, match=expected):
        parse_condition(text)


def test_a_gate_naming_an_unknown_model_or_metric_is_bad_input(cli, project):
    write_plays(project / "plays.csv", 12)
    experiment(project, gate=["ease.mrr@100 >= 0.1", "ials.recall@100 >= 0.1", "ials.mrr@100 >= baselin"])
    result = cli("run", "nightly.yaml")
    assert result.code == 2
    assert "gate[0]: no model named 'ease'" in result.err
    assert "gate[1]: recall@100 is not measured" in result.err
    assert "gate[2]:" in result.err and "'baselin'" in result.err
    assert not (project / "runs" / "nightly").exists() or not list((project / "runs" / "nightly").glob("2*"))


# -- metric conditions --------------------------------------------------------------------------
def test_a_model_made_worse_fails_the_gate_paired_and_passed_stays(cli, project):
    write_plays(project / "plays.csv", 12)
    experiment(project)
    first = cli("run", "nightly.yaml", "--json")
    assert first.code == 0, first.err
    night1 = first.json()
    assert night1["gate"]["passed"] and night1["gate"]["baseline"] is None
    assert (project / "runs" / "nightly" / "passed").resolve().name == night1["run_id"]

    experiment(project, iterations=1)  # tonight's ials is deliberately worse, on the same split
    second = cli("run", "nightly.yaml", "--json")
    assert second.code == 3
    night2 = second.json()
    line = [l for l in second.err.splitlines() if l.startswith("gate failed:")]
    assert line and "ials mrr@100" in line[0] and f"< baseline {night1['metrics']['ials']['mrr@100']:.4f} - 0.005" in line[0]
    check = next(c for c in night2["gate"]["metrics"]["checks"] if c["model"] == "ials")
    assert not check["passed"] and check["how"].startswith("paired") and check["ci95"][1] < 0
    # the run completed: latest moves to it, passed stays on the last run that passed
    exp = project / "runs" / "nightly"
    assert (exp / "latest").resolve().name == night2["run_id"] != night1["run_id"]
    assert (exp / "passed").resolve().name == night1["run_id"]
    assert manifest(project)["gate"]["passed"] is False and manifest(project)["status"] == "complete"
    assert "**Gate: FAILED**" in (exp / "latest" / "report.md").read_text()
    assert 'class="banner fail"' in (exp / "latest" / "report.html").read_text()
    # recommend serves the run that passed
    served = cli("recommend", exp / "passed", "--model", "ials", "--user", "u1", "--json")
    assert served.code == 0, served.err


def test_the_same_models_on_another_split_are_compared_unpaired(cli, project):
    write_plays(project / "plays.csv", 12)
    experiment(project, split={"strategy": "temporal", "last": "3d", "seed": 1})
    assert cli("run", "nightly.yaml").code == 0
    experiment(project, split={"strategy": "temporal", "last": "4d", "seed": 1})
    result = cli("run", "nightly.yaml", "--json")
    assert result.code in (0, 3), result.err
    summary = result.json()
    check = next(c for c in summary["gate"]["metrics"]["checks"] if c["model"] == "ials")
    assert check["how"].startswith("unpaired")
    assert summary["baseline"]["same_split"] is False
    assert "unpaired: another split" in (project / "runs" / "nightly" / "latest" / "report.md").read_text()


def test_an_unchanged_rerun_passes_with_a_zero_paired_difference(cli, project):
    write_plays(project / "plays.csv", 12)
    experiment(project)
    assert cli("run", "nightly.yaml").code == 0
    again = cli("run", "nightly.yaml", "--json")
    assert again.code == 0
    comparison = again.json()["baseline"]["comparisons"]["ials"]["mrr@100"]
    assert comparison["paired"] and comparison["difference"] == 0 and comparison["ci95"] == [0, 0]


def test_the_baseline_s_stored_values_are_hashed_once_a_model(cli, project, monkeypatch):
    from recsys_cli.store.artifacts import ArtifactStore

    write_plays(project / "plays.csv", 12)
    experiment(project, gate=["ials.mrr@100 >= baseline - 0.005", "ials.ndcg@100 >= baseline - 0.01",
                              "pop.mrr@100 >= baseline - 0.005"])
    assert cli("run", "nightly.yaml").code == 0
    checked, damaged_in = [], ArtifactStore.damaged_in
    monkeypatch.setattr(ArtifactStore, "damaged_in", lambda self, run, artifact: checked.append(artifact) or damaged_in(
        self, run, artifact))
    experiment(project, iterations=9, gate=["ials.mrr@100 >= baseline - 0.005", "ials.ndcg@100 >= baseline - 0.01",
                                            "pop.mrr@100 >= baseline - 0.005"])
    result = cli("run", "nightly.yaml", "--json")
    compared = result.json()["baseline"]["comparisons"]
    assert set(compared["ials"]) == {"mrr@100", "ndcg@100"} and all(c["paired"] for c in compared["ials"].values())
    evaluations = [a for a in checked if a.startswith("evaluate/")]
    assert len(evaluations) == len(set(evaluations)) == 2  # ials and pop, each once for 3 comparisons and 3 checks


def test_gate_on_the_command_line_adds_to_the_file(cli, project):
    write_plays(project / "plays.csv", 12)
    experiment(project, gate=[])
    result = cli("run", "nightly.yaml", "--gate", "pop.mrr@100 >= 0.99", "--json")
    assert result.code == 3
    assert result.json()["gate"]["failed"][0].startswith("pop mrr@100")
    assert not (project / "runs" / "nightly" / "passed").exists()


# -- data checks --------------------------------------------------------------------------------
def test_a_source_that_lost_half_its_rows_stops_before_training(cli, project):
    write_plays(project / "plays.csv", 12)
    experiment(project)
    assert cli("run", "nightly.yaml").code == 0
    rows = pl.read_csv(project / "plays.csv")
    rows.head(rows.height // 2).write_csv(project / "plays.csv")
    result = cli("run", "nightly.yaml")
    assert result.code == 3
    assert "gate failed: interactions" in result.err and "0.7 * baseline" in result.err
    assert "before training" in result.err
    stopped = sorted((project / "runs" / "nightly").glob("2*"))[-1]
    record = json.loads((stopped / "manifest.json").read_text())
    assert record["status"] == "gate failed" and not any(s.startswith("train/") for s in record["stages"])
    assert record["gate"]["data"]["figures"]["interactions"] < 0.7 * record["gate"]["data"]["checks"][0]["baseline"]


# -- rolling windows ----------------------------------------------------------------------------
def test_a_rolling_window_is_relative_to_the_data_s_own_last_timestamp(cli, project):
    write_plays(project / "plays.csv", 12)
    experiment(project, gate=[])
    summary = cli("run", "nightly.yaml", "--json").json()
    split = json.loads((Path(summary["path"]) / "manifest.json").read_text())["stages"]["split"]["path"]
    info = json.loads((Path(split) / "split.json").read_text())
    assert info["params"]["last"] == "3d"
    events = pl.read_csv(project / "plays.csv")
    last = events["ts"].max()
    later = events.filter(pl.col("ts") > last - 3 * DAY)
    assert info["parts"]["test"]["interactions"] + info["parts"].get("test_cold", {}).get("interactions", 0) \
        == later.height


# -- three nights -------------------------------------------------------------------------------
def test_three_nights_reuse_what_did_not_change_and_gate_against_the_night_before(cli, project):
    write_plays(project / "plays.csv", 14, seed=5)
    full = pl.read_csv(project / "plays.csv")
    cut = full["ts"].max() - DAY
    full.filter(pl.col("ts") <= cut).write_csv(project / "plays.csv")
    experiment(project)

    night1 = cli("run", "nightly.yaml", "--json")
    assert night1.code == 0, night1.err
    night2 = cli("run", "nightly.yaml", "--json")  # no new data tonight
    assert night2.code == 0
    # the ingest says it reuses the stored version: in the log, the manifest (and, without
    # --quiet or --json, on stderr)
    second_run = Path(night2.json()["path"])
    assert "source unchanged" in (second_run / "log.txt").read_text()
    assert json.loads((second_run / "manifest.json").read_text())["stages"]["ingest"]["source_unchanged"] is True
    stages = night2.json()["stages"]
    assert all(s["status"] == "done" and s.get("reused_from") or k in ("ingest", "split") or k.startswith("evaluate/s")
               for k, s in stages.items() if k.startswith(("train/", "evaluate/")))
    assert night2.json()["gate"]["baseline"]["run"] == night1.json()["run_id"]

    full.write_csv(project / "plays.csv")  # a day of new listening arrives
    night3 = cli("run", "nightly.yaml", "--json")
    assert night3.code in (0, 3), night3.err
    third = night3.json()
    assert third["gate"]["baseline"]["run"] == night2.json()["run_id"]  # the last run that passed
    assert third["stages"]["train/ials"].get("reused_from") is None  # new data: trained again
    assert third["baseline"]["same_split"] is False


def test_a_damaged_baseline_is_never_judged_on(cli, project):
    write_plays(project / "plays.csv", 12)
    experiment(project)
    first = cli("run", "nightly.yaml", "--json").json()
    per_user = Path(first["path"]) / "per_user" / "ials.parquet"  # a hard link to the stored evaluation
    data = bytearray(per_user.read_bytes())
    data[len(data) // 2] ^= 0xFF
    per_user.write_bytes(bytes(data))
    experiment(project, iterations=9)  # a new model tonight: the baseline's file is read to compare
    result = cli("run", "nightly.yaml", "--json")
    assert result.code == 3
    check = next(c for c in result.json()["gate"]["metrics"]["checks"] if c["model"] == "ials")
    assert not check["passed"] and "damaged" in check["message"] and "recsys runs pin" in check["message"]


def test_a_pinned_run_is_the_baseline_until_the_pin_is_cleared_by_name_or_run(cli, project):
    write_plays(project / "plays.csv", 12)
    config = experiment(project, gate=["ials.mrr@100 >= baseline - 0.5"])
    first = cli("run", config, "--json").json()
    cli("run", config, "--json", "--force")
    run_id = Path(first["path"]).name
    assert cli("runs", "pin", f"nightly/{run_id}").code == 0
    assert (project / "runs" / "nightly" / "pinned").resolve() == Path(first["path"]).resolve()
    third = cli("run", config, "--json", "--force").json()
    assert third["baseline"]["baseline"] == {**third["baseline"]["baseline"], "run": run_id, "kind": "pinned"}
    cleared = cli("runs", "pin", f"nightly/{run_id}", "--clear")  # the run's own name clears its experiment's pin
    assert cleared.code == 0 and "unpinned nightly" in cleared.out
    assert not (project / "runs" / "nightly" / "pinned").is_symlink()
    assert cli("runs", "pin", f"nightly/{run_id}").code == 0 and cli("runs", "pin", "nightly", "--clear").code == 0
    assert not (project / "runs" / "nightly" / "pinned").is_symlink()
