"""The artifact store: re-runs cost kilobytes, any earlier run's artifact is reused, a failed
config leaves nothing, statuses never go down, pruning never breaks a kept run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from recsys_cli.store.artifacts import ArtifactStore, tree_bytes


def _new_bytes(run: Path) -> int:
    """Bytes of the files only this run folder holds (hard-linked files are shared)."""
    return sum(f.stat().st_size for f in run.rglob("*") if f.is_file() and f.stat().st_nlink == 1)


def _set_ials_factors(project: Path, factors: int) -> None:
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["models"][2]["params"]["factors"] = factors
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))


def test_an_unchanged_rerun_writes_kilobytes_and_retrains_nothing(cli, project):
    first = cli("run", "smoke.yaml", "--json").json()
    second = cli("run", "smoke.yaml", "--json", "--force").json()
    run = Path(second["path"])
    assert _new_bytes(run) < 1 << 20
    assert tree_bytes(Path(first["path"])) > 1 << 16  # the first run really made something to share
    for name, stage in second["stages"].items():
        if name.split("/")[0] in ("train", "evaluate", "export"):
            assert stage["reused_from"] == Path(first["path"]).name, name
            assert stage["artifact"].startswith(name.split("/")[0] + "/")
    model_file = next((run / "models" / "ials").iterdir())
    assert model_file.stat().st_nlink >= 3  # first run, store, second run: one inode
    assert second["metrics"] == first["metrics"]


def test_a_to_b_to_a_reuses_the_model_trained_for_a(cli, project):
    a = cli("run", "smoke.yaml", "--json").json()
    _set_ials_factors(project, 8)
    b = cli("run", "smoke.yaml", "--json").json()
    assert b["stages"]["train/ials"]["reused_from"] is None
    _set_ials_factors(project, yaml.safe_load((Path(a["path"]) / "config.yaml").read_text())["models"][2]["params"]["factors"])
    again = cli("run", "smoke.yaml", "--json").json()
    assert again["stages"]["train/ials"]["reused_from"] == Path(a["path"]).name
    assert again["metrics"]["ials"] == a["metrics"]["ials"]


def test_nothing_made_by_other_code_is_reused(cli, project, monkeypatch):
    """After an upgrade (recsys_cli's modules or a numeric library changed), every stage
    computes afresh instead of adopting what the old code stored."""
    from recsys_cli.stages import env

    first = cli("run", "smoke.yaml", "--json").json()
    monkeypatch.setattr(env, "code_state", lambda: "the next release")
    upgraded = cli("run", "smoke.yaml", "--json", "--force").json()
    stored = [name for name in upgraded["stages"] if name.split("/")[0] in ("train", "evaluate", "export")]
    assert stored and all(upgraded["stages"][name]["reused_from"] is None for name in stored)
    assert upgraded["metrics"] == first["metrics"]  # computed afresh by what is in fact the same code
    again = cli("run", "smoke.yaml", "--json", "--force").json()
    assert all(again["stages"][name]["reused_from"] == Path(upgraded["path"]).name for name in stored)


def test_a_config_that_fails_before_any_stage_leaves_no_run_folder(cli, project):
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["dataset"] = "data/no-such-dataset"
    config["name"] = "broken"
    (project / "broken.yaml").write_text(yaml.safe_dump(config))
    assert cli("run", "broken.yaml").code == 2
    folder = project / "runs" / "broken"
    assert not folder.exists() or not [p for p in folder.iterdir() if not p.name.startswith(".")]


def test_evaluate_then_train_keeps_the_further_status(cli, project):
    evaluated = cli("evaluate", "smoke.yaml", "--json").json()
    assert evaluated["status"] == "evaluate done"
    trained = cli("train", "smoke.yaml", "--json").json()
    assert trained["path"] == evaluated["path"] and trained["status"] == "evaluate done"


def test_concurrent_publishers_of_one_artifact_keep_one_copy(tmp_path):
    store = ArtifactStore(tmp_path / ".store")
    for writer in ("a", "b"):
        run = tmp_path / writer
        (run / "models" / "m").mkdir(parents=True)
        (run / "models" / "m" / "state.npz").write_text(writer)
        store.publish("train", "k1", run, ["models/m"], {"writer": writer}, origin=writer)
    assert store.get("train", "k1")["record"] == {"writer": "a"}
    assert (store.path("train", "k1") / "models" / "m" / "state.npz").read_text() == "a"
    assert [p.name for p in (tmp_path / ".store" / "train").iterdir()] == ["k1"]


def test_link_into_refuses_an_incomplete_artifact(tmp_path):
    store = ArtifactStore(tmp_path / ".store")
    run = tmp_path / "run"
    (run / "per_user").mkdir(parents=True)
    (run / "per_user" / "m.parquet").write_text("x")
    store.publish("evaluate", "k", run, ["per_user/m.parquet"], {})
    os.remove(store.path("evaluate", "k") / "per_user" / "m.parquet")
    assert store.link_into("evaluate", "k", tmp_path / "other") is None


@pytest.mark.parametrize("keep_runs", [0, 1])
def test_unreferenced_lists_only_artifacts_no_run_links_to(tmp_path, keep_runs):
    store = ArtifactStore(tmp_path / ".store")
    run = tmp_path / "run"
    (run / "models" / "m").mkdir(parents=True)
    (run / "models" / "m" / "state.npz").write_bytes(b"1234")
    store.publish("train", "k", run, ["models/m"], {})
    if not keep_runs:
        import shutil

        shutil.rmtree(run)
    unreferenced = store.unreferenced()
    assert [(kind, key, size) for kind, key, _, size in unreferenced] == ([] if keep_runs else [("train", "k", 4)])


def test_fingerprints_agree_on_the_same_value_spelled_two_ways():
    from recsys_cli.core.atomic import fingerprint

    assert fingerprint({"min_rating": 4.0, "k": (10, 100)}) == fingerprint({"k": [10, 100], "min_rating": 4})
    assert fingerprint({"min_rating": 4.5}) != fingerprint({"min_rating": 4})


def test_the_run_records_absolute_paths_so_compare_works_from_elsewhere(cli, project, monkeypatch, tmp_path_factory):
    summary = cli("run", "smoke.yaml", "--json").json()
    config = yaml.safe_load((Path(summary["path"]) / "config.yaml").read_text())
    dataset = config["dataset"]["out"] if isinstance(config["dataset"], dict) else config["dataset"]
    assert Path(dataset).is_absolute()
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    result = cli("compare", summary["path"], "--anchors", "20", "--json")
    assert result.code == 0, result.err


def test_recsys_split_and_recsys_run_share_one_split_folder(cli, project):
    summary = cli("run", "smoke.yaml", "--json").json()
    split_path = Path(json.loads((Path(summary["path"]) / "manifest.json").read_text())["stages"]["split"]["path"])
    info = json.loads((split_path / "split.json").read_text())
    dataset = split_path.parent.parent
    args = ["split", dataset, "--strategy", info["strategy"], "--seed", info["seed"], "--json",
            *[a for k, v in info["params"].items() if v is not None and k in ("test_users", "test_ratio", "n")
              for a in (f"--{k.replace('_', '-')}", v)]]
    if info["validation"]:
        args.append("--validation")
    made = cli(*args)
    assert made.code == 0, made.err
    assert Path(made.json()["path"]) == split_path and made.json()["skipped"]  # the same folder, up to date
    without = cli(*[a for a in args if a != "--validation"]) if info["validation"] else None
    if without is not None:
        assert Path(without.json()["path"]) != split_path  # other parameters never overwrite it


def test_prune_keeps_every_file_of_the_kept_runs_and_frees_the_rest(cli, project):
    _set_ials_factors(project, 8)
    old = cli("run", "smoke.yaml", "--json").json()
    _set_ials_factors(project, 4)
    kept = cli("run", "smoke.yaml", "--json").json()
    kept_files = {p: p.read_bytes() for p in Path(kept["path"]).rglob("*") if p.is_file()}
    planned = cli("runs", "prune", "ci-smoke", "--keep", "1", "--dry-run", "--json").json()
    assert planned["runs"] == [old["path"]] and planned["bytes_freed"] > 0 and Path(old["path"]).exists()
    done = cli("runs", "prune", "ci-smoke", "--keep", "1", "--json").json()
    assert not Path(old["path"]).exists() and done["bytes_freed"] == planned["bytes_freed"]
    assert {p: p.read_bytes() for p in Path(kept["path"]).rglob("*") if p.is_file()} == kept_files
    store = ArtifactStore.for_runs(project / "runs")
    named = {e["artifact"] for e in json.loads((Path(kept["path"]) / "manifest.json").read_text())["stages"].values()
             if isinstance(e.get("artifact"), str)}
    unlinked = {f"{kind}/{key}" for kind, key, _, _ in store.unreferenced()}
    assert unlinked <= named  # what the old run alone used (its ials model) is gone ...
    assert {a for a in named if a.startswith("evaluate/")} <= {f"{k}/{key}" for k, key, _ in store.entries()}
    # ... and what the kept run names without linking a file (its significance test) is kept
    assert cli("run", "smoke.yaml", "--json", "--force").json()["stages"]["train/ials"]["reused_from"] == Path(kept["path"]).name


def test_an_unchanged_rerun_loads_no_saved_model(project):
    import subprocess
    import sys

    code = ("import sys; from recsys_cli.cli.app import main; main(['run', 'smoke.yaml', '--quiet']); "
            "print(sorted(m for m in ('implicit', 'optuna') if m in sys.modules))")
    for expected in (None, "[]"):
        done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        if expected is not None:
            assert done.stdout.strip().splitlines()[-1] == expected
