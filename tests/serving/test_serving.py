"""`recsys recommend` / `recsys similar`: answers from saved models, fallbacks, moved run folders."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from recsys_cli.stages import ingest as ingest_stage
from recsys_cli.run import run_experiment
from recsys_cli.store.inputs import resolve_recorded
from recsys_cli.serving.queries import ServedRun

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_run(smoke_project):
    return smoke_project


@pytest.fixture
def in_project(smoke_run, monkeypatch):
    project, run = smoke_run
    monkeypatch.chdir(project)
    return run


def test_a_recorded_path_is_found_as_written_or_under_the_run_folders_ancestors(tmp_path):
    (tmp_path / "proj" / "data" / "set").mkdir(parents=True)
    run = tmp_path / "proj" / "runs" / "exp" / "r1"
    run.mkdir(parents=True)
    assert resolve_recorded(tmp_path / "proj" / "data" / "set", run) == tmp_path / "proj" / "data" / "set"
    assert resolve_recorded("data/set", run) == (tmp_path / "proj" / "data" / "set").resolve()
    # An absolute path of another machine: its trailing parts under an ancestor.
    assert resolve_recorded("/home/someone/work/proj/data/set", run) == (tmp_path / "proj" / "data" / "set").resolve()
    assert resolve_recorded("data/missing", run) is None


def test_recommend_gives_each_models_own_top_k_with_names(cli, in_project):
    served = ServedRun.open(in_project)
    split = served.split
    user = int(split.test_users[0])
    user_id = str(served.dataset.users.filter(pl.col("user_idx") == user)["user_id"][0])
    result = cli("recommend", in_project, "--user", user_id, "-m", "ials", "-m", "i2i", "-k", "5", "--json")
    assert result.code == 0, result.err
    answer = result.json()["users"][0]
    assert answer["in_dataset"] and answer["history_items"] == split.history[user].nnz
    items = served.dataset.items
    for name in ("ials", "i2i"):
        expected, _ = served.models([name])[name].recommend(np.array([user], dtype=np.int32), split.history, 5)
        got = answer["recommendations"][name]
        assert got["fallback"] is None
        expected_ids = items.sort("item_idx")["item_id"].to_numpy()[expected[0]].tolist()
        assert [r["item_id"] for r in got["items"]] == expected_ids
        assert [r["rank"] for r in got["items"]] == [1, 2, 3, 4, 5]
        assert all(r["name"] for r in got["items"])  # names joined from items.parquet
        seen = set(split.history[user].indices.tolist())
        assert not seen & set(expected[0].tolist())  # seen items filtered, as the run evaluated
    assert list(answer["recommendations"]) == ["ials", "i2i"]  # the order asked
    text = cli("recommend", in_project, "--user", user_id, "-m", "ials", "-m", "i2i", "-k", "3")
    assert text.code == 0 and "side by side" in text.out and "recent history" in text.out


def test_history_is_what_the_models_saw_latest_first(cli, in_project):
    served = ServedRun.open(in_project)
    user, other = (int(u) for u in served.split.test_users[:2])
    (count, rows), (other_count, other_rows), (unknown, none) = served.histories(np.array([user, other, -1]), 100)
    assert (other_count, unknown, none) == (served.split.history[other].nnz, 0, [])  # one scan, each user's own
    train_items = set(served.split.history[user].indices.tolist())
    ids = served.dataset.items.sort("item_idx")["item_id"].to_numpy()
    assert {r["item_id"] for r in other_rows} == {ids[i] for i in served.split.history[other].indices}
    assert count == len(train_items) == len(rows)
    assert {r["item_id"] for r in rows} == {ids[i] for i in train_items}  # test items are not shown
    times = [r["last_seen"] for r in rows]
    assert times == sorted(times, reverse=True)
    assert [len(recent) for _, recent in served.histories(np.array([user, other]), 2)] == [2, 2]


def test_unknown_users_get_the_popularity_ranking_and_are_told_so(cli, in_project):
    result = cli("recommend", in_project, "--user", "no-such-user", "-k", "4", "--history", "0", "--json")
    assert result.code == 0, result.err
    answer = result.json()["users"][0]
    assert not answer["in_dataset"] and answer["history_items"] == 0
    served = ServedRun.open(in_project)
    popularity = served.popularity
    top = np.lexsort((np.arange(len(popularity)), -popularity))[:4]
    expected = served.dataset.items.sort("item_idx")["item_id"].to_numpy()[top].tolist()
    for name, got in answer["recommendations"].items():
        assert got["fallback"] == "popularity", name
        assert [r["item_id"] for r in got["items"]] == expected
    text = cli("recommend", in_project, "--user", "no-such-user", "-m", "ials")
    assert "fall back to the popularity" in text.out and "not in the dataset" in text.out


def test_a_cold_user_of_a_temporal_split_falls_back(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load((ROOT / "configs" / "ci-smoke.yaml").read_text())
    config.update(name="cold", split={"strategy": "temporal", "test_ratio": 0.3},
                  models=[{"name": "ials", "type": "ials", "params": {"factors": 8, "iterations": 2}}],
                  export={"recommendations": 0, "similar": 0})
    (tmp_path / "cold.yaml").write_text(yaml.safe_dump(config))
    run = Path(run_experiment(tmp_path / "cold.yaml", tmp_path / "runs")["path"])
    served = ServedRun.open(run)
    cold = served.split.read_part("test_cold")
    user = int(np.flatnonzero(np.diff(cold.indptr))[0])
    user_id = str(served.dataset.users.filter(pl.col("user_idx") == user)["user_id"][0])
    answer = cli("recommend", run, "--user", user_id, "--json").json()["users"][0]
    assert answer["in_dataset"] and answer["history_items"] == 0
    assert answer["recommendations"]["ials"]["fallback"] == "popularity"
    assert "no history in the split" in cli("recommend", run, "--user", user_id).out


def test_similar_by_name_matches_the_models_similar_items(cli, in_project):
    served = ServedRun.open(in_project)
    items = served.dataset.items.sort("item_idx")
    name = items["name"][3]
    result = cli("similar", in_project, "--item-name", name.upper(), "-k", "4", "--json")
    assert result.code == 0, result.err
    answer = result.json()
    anchor = answer["items"][0]
    assert anchor["item_id"] == items["item_id"][3] and answer["models_without_similarity"] == ["pop"]
    for model_name, rows in anchor["similar"].items():
        ids, _ = served.models([model_name])[model_name].similar_items(np.array([3], dtype=np.int32), 4)
        assert [r["item_id"] for r in rows] == items["item_id"].to_numpy()[ids[0][ids[0] >= 0]].tolist()
        assert items["item_id"][3] not in [r["item_id"] for r in rows]  # never the anchor itself
    by_id = cli("similar", in_project, "--item", str(items["item_id"][3]), "-m", "i2i", "-k", "4", "--json").json()
    assert by_id["items"][0]["similar"]["i2i"] == anchor["similar"]["i2i"]
    assert "similar to" in cli("similar", in_project, "--item", str(items["item_id"][3])).out


def test_bad_questions_are_exit_2(cli, in_project):
    assert cli("similar", in_project, "--item-name", "Jazz").code == 2  # ambiguous
    assert cli("similar", in_project).code == 2  # nothing asked
    only_pop = cli("similar", in_project, "--item", "1", "-m", "pop")
    assert only_pop.code == 2 and "item similarity" in only_pop.err
    assert cli("recommend", in_project, "--user", "1", "-m", "nope").code == 2
    assert cli("recommend", in_project.parent / "nope", "--user", "1").code == 2


def test_a_moved_run_folder_still_answers(cli, smoke_run, tmp_path, monkeypatch):
    project, run = smoke_run
    moved = tmp_path / "elsewhere" / "project"
    shutil.copytree(run, moved / "runs" / "ci-smoke" / run.name)
    monkeypatch.chdir(tmp_path)  # neither the old project nor the new one is the working directory
    copied_run = moved / "runs" / "ci-smoke" / run.name
    away = tmp_path / "original-data"
    shutil.move(project / "data", away)  # "another machine": the recorded (absolute) paths are gone
    try:
        lost = cli("recommend", copied_run, "--user", "1")
    finally:
        shutil.move(away, project / "data")
    assert lost.code == 2 and "--data" in lost.err and "data/ci-smoke" in lost.err
    shutil.copytree(project / "data", moved / "data")
    assert cli("recommend", copied_run, "--user", "1", "--json").code == 0
    assert cli("compare", copied_run, "--anchors", "10", "--k", "3", "--models", "i2i,ials", "--json").code == 0
    shutil.move(moved / "data", tmp_path / "somewhere-else")
    given = cli("recommend", copied_run, "--user", "1", "--data", tmp_path / "somewhere-else" / "ci-smoke", "--json")
    assert given.code == 0, given.err


def test_a_split_of_another_dataset_is_refused(cli, smoke_run, tmp_path, monkeypatch):
    project, run = smoke_run
    monkeypatch.chdir(tmp_path)
    ingest_stage.ingest("synthetic", None, tmp_path / "other", {"preset": "small", "seed": 1})
    shutil.copytree(project / "data" / "ci-smoke" / "splits", tmp_path / "other" / "splits")
    result = cli("recommend", run, "--user", "1", "--data", tmp_path / "other")
    assert result.code == 2 and "another dataset" in result.err


def test_serving_imports_only_what_answers_the_query(in_project):
    """Every model of the run is loaded, yet no parameter validation (pydantic), no YAML, no
    implicit: the models' files were checked against their store's checksums instead."""
    code = ("import sys; from recsys_cli.cli.app import main; "
            f"main(['recommend', {str(in_project)!r}, '--user', '1', '--json']); "
            f"main(['similar', {str(in_project)!r}, '--item', '1', '--json']); "
            "print(sorted(m for m in ('optuna', 'lightgbm', 'matplotlib', 'sklearn', 'pydantic', 'yaml', 'implicit')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
