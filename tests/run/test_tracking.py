"""MLflow tracking (stages/track.py, `recsys runs track`) against a real MLflow backend: a
SQLite tracking store and an artifact root in a temporary folder, read back through
`mlflow.MlflowClient` — params, metrics per model and K, a child run per tuning trial, tags,
artifacts; a re-run that reuses everything is not logged twice; a tracker outage leaves the run
complete ("not tracked: ...") and `recsys runs track` logs it later."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import polars as pl
import pytest
import yaml

from recsys_cli.cli.app import main
from recsys_cli.config.blocks import TrackingBlock
from recsys_cli.core.errors import InputError
from recsys_cli.stages import track

mlflow = pytest.importorskip("mlflow", reason="the [mlflow] extra is not installed (pip install 'recsys_cli[mlflow]')")

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "ci-smoke.yaml"
TUNED_IALS = {"name": "ials", "type": "ials", "params": {"factors": 8, "iterations": 3},
              "tune": {"trials": 3, "space": {"factors": {"low": 4, "high": 8, "type": "int"},
                                              "iterations": {"low": 2, "high": 4, "type": "int"}}}}


def smoke_config(folder: Path, tracking: dict | None, models: list[dict]) -> Path:
    """The CI smoke config with `models` and a `tracking` block, every path absolute."""
    config = yaml.safe_load(SMOKE.read_text())
    config["dataset"]["out"] = str(folder / "data" / "ci-smoke")
    config.update(models=models, metrics={"k": [10, 100], "names": ["mrr", "ndcg", "coverage"]},
                  export={"recommendations": 5})
    if tracking is not None:
        config["tracking"] = tracking
    path = folder / "smoke.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One complete run of a config (in a git checkout) with a tuned model, tracked into a
    fresh SQLite store; the tracker's client, the run folder and the config's commit."""
    folder = tmp_path_factory.mktemp("tracked")
    config = smoke_config(folder, {"mlflow": f"sqlite:///{folder}/mlflow.db", "artifacts": str(folder / "artifacts")},
                          [{"name": "pop", "type": "popular"}, TUNED_IALS])
    git(folder, "init", "-q")
    git(folder, "add", config.name)
    git(folder, "commit", "-q", "-m", "nightly config")
    with pytest.MonkeyPatch.context() as patch:  # MLflow's default artifact root (./mlruns) lands here too
        patch.chdir(folder)
        assert main(["run", str(config), "--runs-dir", str(folder / "runs"), "--quiet"]) == 0
    run = (folder / "runs" / "ci-smoke" / "latest").resolve()
    client = mlflow.MlflowClient(f"sqlite:///{folder}/mlflow.db")
    return {"folder": folder, "config": config, "run": run, "client": client, "commit": git(folder, "rev-parse", "HEAD"),
            "experiment": client.get_experiment_by_name("ci-smoke")}


def parent_runs(client, experiment) -> list:
    return [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


class TestLoggedRun:
    def test_one_parent_run_keyed_by_the_folder(self, tracked):
        (parent,) = parent_runs(tracked["client"], tracked["experiment"])
        record = manifest(tracked["run"])["tracking"]
        assert record["status"] == "tracked" and record["mlflow_run_id"] == parent.info.run_id
        assert parent.info.status == "FINISHED" and parent.info.run_name == tracked["run"].name
        assert parent.data.tags["recsys.run_id"] == tracked["run"].name
        assert parent.data.tags["recsys.key"] == record["key"]

    def test_params_are_the_resolved_config_flattened(self, tracked):
        (parent,) = parent_runs(tracked["client"], tracked["experiment"])
        params = parent.data.params
        config = yaml.safe_load((tracked["run"] / "config.yaml").read_text())
        assert params["name"] == "ci-smoke"
        assert params["split.strategy"] == "leave-one-random" and params["split.test_users"] == "0.2"
        assert params["models.pop.type"] == "popular" and params["models.pop.params"] == "{}"
        assert params["models.ials.params.factors"] == "8" and params["models.ials.tune.trials"] == "3"
        assert params["metrics.k"] == "[10, 100]"
        assert params["dataset.out"] == config["dataset"]["out"]
        assert params["tracking.mlflow"] == config["tracking"]["mlflow"]
        best = json.loads((tracked["run"] / "metrics.json").read_text())["tuning"]["ials"]["best_params"]
        assert {k: params[f"tuned.ials.{k}"] for k in best} == {k: json.dumps(v) for k, v in best.items()}

    def test_every_metric_at_every_k_per_model(self, tracked):
        (parent,) = parent_runs(tracked["client"], tracked["experiment"])
        models = json.loads((tracked["run"] / "metrics.json").read_text())["models"]
        expected = {f"{model}.{metric.replace('@', '_at_')}": value
                    for model, row in models.items() for metric, value in row.items()}
        assert len(expected) == 2 * 3 * 2  # models x metrics x K
        assert parent.data.metrics == pytest.approx(expected, rel=1e-12)

    def test_tuning_trials_are_child_runs(self, tracked):
        client = tracked["client"]
        (parent,) = parent_runs(client, tracked["experiment"])
        children = client.search_runs([tracked["experiment"].experiment_id],
                                      f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        trials = pl.read_parquet(tracked["run"] / "tune" / "ials" / "trials.parquet").to_dicts()
        assert len(children) == len(trials) == 3
        by_number = {int(child.data.tags["recsys.trial"]): child for child in children}
        for trial in trials:
            child = by_number[trial["number"]]
            assert child.info.run_name == f"ials-trial-{trial['number']}"
            assert child.data.tags["optuna.state"] == trial["state"] == "COMPLETE"
            assert child.data.tags["recsys.objective"] == "mrr@100 on validation"
            assert child.info.status == "FINISHED"
            assert child.data.metrics["value"] == pytest.approx(trial["value"], rel=1e-12)
            assert child.data.params == {"factors": str(trial["params_factors"]),
                                         "iterations": str(trial["params_iterations"])}

    def test_tags_gate_dataset_and_commit(self, tracked):
        (parent,) = parent_runs(tracked["client"], tracked["experiment"])
        tags, stages = parent.data.tags, manifest(tracked["run"])["stages"]
        assert tags["recsys.gate"] == "none"  # this run has no gate block
        assert tags["recsys.dataset_fingerprint"] == stages["ingest"]["dataset_fingerprint"]
        assert tags["recsys.config_git_commit"] == tags["mlflow.source.git.commit"] == tracked["commit"]
        assert tags["recsys.config_git_dirty"] == "false"

    def test_report_and_metrics_csv_are_artifacts(self, tracked, tmp_path):
        client = tracked["client"]
        (parent,) = parent_runs(client, tracked["experiment"])
        assert {f.path for f in client.list_artifacts(parent.info.run_id)} == {"report.html", "metrics.csv", "config.yaml"}
        local = Path(client.download_artifacts(parent.info.run_id, "metrics.csv", str(tmp_path)))
        assert local.read_bytes() == (tracked["run"] / "metrics.csv").read_bytes()
        assert tracked["experiment"].artifact_location.endswith(str(tracked["folder"] / "artifacts"))

    def test_a_rerun_that_reuses_everything_is_not_logged_again(self, tracked):
        folder = tracked["folder"]
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(folder)
            assert main(["run", str(tracked["config"]), "--runs-dir", str(folder / "runs"), "--quiet", "--force"]) == 0
        again = (folder / "runs" / "ci-smoke" / "latest").resolve()
        assert again != tracked["run"]  # a new run folder, every stage reused
        record = manifest(again)["tracking"]
        assert record["status"] == "already tracked"
        assert record["mlflow_run_id"] == manifest(tracked["run"])["tracking"]["mlflow_run_id"]
        assert len(parent_runs(tracked["client"], tracked["experiment"])) == 1

    def test_tracking_one_folder_again_logs_nothing(self, tracked, cli):
        result = cli("runs", "track", tracked["run"], "--json")
        assert result.code == 0 and result.json()["status"] == "already tracked"
        assert len(parent_runs(tracked["client"], tracked["experiment"])) == 1


class TestOutage:
    def test_a_run_survives_the_tracker_and_runs_track_logs_it_later(self, project, cli, tracked, monkeypatch):
        blocker = project / "tracker"
        blocker.write_text("not a folder: the store below cannot be opened")
        config = smoke_config(project, {"mlflow": "sqlite:///tracker/mlflow.db", "experiment": "outage"},
                              [{"name": "pop", "type": "popular"}])
        result = cli("run", config, "--quiet")
        assert result.code == 0  # it ran
        assert "not tracked: sqlite:///" in result.err and "recsys runs track" in result.err
        run = (project / "runs" / "ci-smoke" / "latest").resolve()
        record = manifest(run)
        assert record["status"] == "complete"
        assert record["tracking"]["status"] == "failed" and "tracker/mlflow.db" in record["tracking"]["reason"]

        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the user's setting wins over ours
        down = cli("runs", "track", "ci-smoke", "--tracking-uri", "http://user:secret@127.0.0.1:9")
        assert down.code == 1 and down.err.startswith("not tracked: http://user:***@127.0.0.1:9")
        assert "secret" not in down.err and "secret" not in (run / "manifest.json").read_text()
        assert manifest(run)["tracking"]["status"] == "failed"

        uri = f"sqlite:///{tracked['folder']}/mlflow.db"  # the tracker is back
        logged = cli("runs", "track", "ci-smoke", "--tracking-uri", uri, "--json")
        assert logged.code == 0 and logged.json()["status"] == "tracked"
        client = tracked["client"]
        (parent,) = parent_runs(client, client.get_experiment_by_name("outage"))
        assert parent.data.tags["recsys.run_id"] == run.name
        assert parent.data.metrics["pop.mrr_at_10"] == pytest.approx(
            json.loads((run / "metrics.json").read_text())["models"]["pop"]["mrr@10"], rel=1e-12)
        assert manifest(run)["tracking"]["mlflow_run_id"] == parent.info.run_id

    def test_the_configs_own_tracker_once_it_is_back(self, project, cli):
        blocker = project / "tracker"
        blocker.write_text("")
        config = smoke_config(project, {"mlflow": "sqlite:///tracker/mlflow.db"}, [{"name": "pop", "type": "popular"}])
        assert cli("run", config, "--quiet").code == 0
        assert cli("runs", "track", "ci-smoke").code == 1
        blocker.unlink()
        result = cli("runs", "track", "ci-smoke")
        assert result.code == 0 and result.out.startswith("tracked: ci-smoke/")
        assert cli("runs", "track", "ci-smoke").out.startswith("already tracked: ")


class TestRefusals:
    def folder(self, tmp_path: Path, status: str = "complete", config: dict | None = None) -> Path:
        run = tmp_path / "runs" / "x" / "20260101-000000"
        run.mkdir(parents=True)
        (run / "manifest.json").write_text(json.dumps({"name": "x", "status": status, "stages": {}}))
        (run / "metrics.json").write_text(json.dumps({"models": {"pop": {"mrr@10": 0.5}}}))
        (run / "config.yaml").write_text(yaml.safe_dump(config or {"name": "x"}))
        return run

    def test_an_incomplete_run_is_not_tracked(self, tmp_path):
        with pytest.raises(InputError, match="'running', not complete"):
            track.track_saved(self.folder(tmp_path, status="running"), "sqlite:///unused.db")

    def test_a_run_without_tracking_needs_a_uri(self, tmp_path, cli):
        run = self.folder(tmp_path)
        result = cli("runs", "track", run)
        assert result.code == 2 and "tracking: {mlflow: URI}" in result.err and "--tracking-uri" in result.err

    def test_mlflow_missing_is_a_tracking_failure(self, tmp_path, monkeypatch):
        run = self.folder(tmp_path, config={"name": "x", "tracking": {"mlflow": "sqlite:///unused.db"}})
        monkeypatch.setitem(__import__("sys").modules, "mlflow", None)
        with pytest.raises(track.TrackingFailed, match=r"mlflow is not installed .*recsys_cli\[mlflow\]"):
            track.track_saved(run)
        assert json.loads((run / "manifest.json").read_text())["tracking"]["status"] == "failed"

    def test_a_typo_in_the_block_is_bad_input(self, project, cli):
        config = yaml.safe_load((project / "smoke.yaml").read_text())
        config["tracking"] = {"mlflow": "sqlite:///m.db", "experimnet": "x"}
        (project / "smoke.yaml").write_text(yaml.safe_dump(config))
        result = cli("run", "smoke.yaml")
        assert result.code == 2 and "tracking.experimnet: unknown key; allowed: mlflow, experiment, artifacts" in result.err


class TestNames:
    def test_params_flatten_named_lists_and_cut_long_values(self):
        flat = track.flat_params({"models": [{"name": "a", "type": "ease", "params": {}}],
                                  "metrics": {"k": [10, 100]}, "note": "x" * 600, "compare": None})
        assert flat["models.a.type"] == "ease" and flat["models.a.params"] == "{}"
        assert flat["metrics.k"] == "[10, 100]" and flat["compare"] == "null"
        assert len(flat["note"]) == 500 and flat["note"].endswith("(cut: the whole value is in config.yaml)")

    def test_metric_names_are_legal_in_mlflow(self):
        assert track.metric_name("ials", "mrr@100") == "ials.mrr_at_100"
        assert track.metric_name("i2i.v2", "recall_capped@10") == "i2i.v2.recall_capped_at_10"

    def test_a_password_never_leaves_the_uri(self):
        assert track.redacted("https://me:pw@mlflow.example.com:5000/x") == "https://me:***@mlflow.example.com:5000/x"
        assert track.redacted("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"

    def test_relative_stores_resolve_against_the_working_directory(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        block = TrackingBlock(mlflow="sqlite:///mlflow.db", artifacts="mlartifacts").absolute()
        assert block.mlflow == f"sqlite:///{tmp_path}/mlflow.db" and block.artifacts == str(tmp_path / "mlartifacts")
        assert TrackingBlock(mlflow="http://host:5000").absolute().mlflow == "http://host:5000"

    def test_config_source_outside_and_inside_git(self, tmp_path):
        config = tmp_path / "nightly.yaml"
        config.write_text("name: nightly\n")
        assert track.config_source(config) == {"config": str(config)}
        git(tmp_path, "init", "-q")
        git(tmp_path, "add", config.name)
        git(tmp_path, "commit", "-q", "-m", "c")
        assert track.config_source(config)["git_commit"] == git(tmp_path, "rev-parse", "HEAD")
        config.write_text("name: nightly2\n")
        assert track.config_source(config)["git_dirty"] is True
