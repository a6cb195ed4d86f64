"""`recsys run` end to end on the built-in synthetic slice: outputs, reuse, resume, lock,
reproducibility and bad configs."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from recsys_cli.run import run_experiment
from recsys_cli.data.split_folder import load_split
from recsys_cli.models.als import IALS
from recsys_cli.store.runs import experiment_lock

def _config(path: Path, **changes) -> Path:
    config = yaml.safe_load(path.read_text())
    config.update(changes)
    path.write_text(yaml.safe_dump(config))
    return path


def test_run_writes_a_complete_run_folder(cli, project):
    result = cli("run", "smoke.yaml", "--json")
    assert result.code == 0, result.err
    summary = result.json()
    run = Path(summary["path"])
    assert summary["status"] == "complete" and (project / "runs" / "ci-smoke" / "latest").resolve() == run.resolve()
    for name in ("config.yaml", "manifest.json", "metrics.csv", "metrics.json", "report.md", "log.txt", "top_popular.parquet"):
        assert (run / name).is_file(), name
    metrics = pl.read_csv(run / "metrics.csv")
    assert metrics["model"].to_list() == ["pop", "i2i", "ials", "ease"]
    assert metrics.columns[:4] == ["model", "mrr@10", "ndcg@10", "recall@10"] and "coverage@100" in metrics.columns
    best = metrics.sort("mrr@100", descending=True)["model"][0]
    assert best != "pop" and metrics.filter(pl.col("model") == "pop")["mrr@100"].item() < 0.5 * metrics["mrr@100"].max()
    protocol = json.loads((run / "metrics.json").read_text())["protocol"]
    assert protocol["split"]["strategy"] == "leave-one-random" and protocol["k"] == [10, 100]
    recs = pl.read_parquet(run / "recommendations" / "i2i.parquet")
    assert recs.columns == ["user_id", "item_id", "name", "rank", "score"] and recs["rank"].max() == 20
    similar = pl.read_parquet(run / "similar" / "ease.parquet")
    assert similar.columns == ["item_id", "name", "similar_item_id", "similar_name", "rank", "score"]
    assert not (similar["item_id"] == similar["similar_item_id"]).any()
    assert not (run / "similar" / "pop.parquet").exists()
    per_user = pl.read_parquet(run / "per_user" / "ials.parquet")
    assert per_user.height == protocol["test_users"] and per_user["mrr@100"].mean() == pytest.approx(metrics["mrr@100"][2])
    assert "| model |" in (run / "report.md").read_text()
    table = cli("run", "smoke.yaml")
    assert table.code == 0 and "mrr" in table.out and "ease" in table.out


def test_second_run_reuses_every_stage_and_a_changed_model_retrains_alone(cli, project):
    first = cli("run", "smoke.yaml", "--json").json()
    second = cli("run", "smoke.yaml", "--json", "--force").json()  # a new run folder, not the answer of the first
    assert second["path"] != first["path"]
    assert all(stage["reused_from"] == Path(first["path"]).name
               for name, stage in second["stages"].items() if name.split("/")[0] in ("train", "evaluate", "export"))
    assert second["metrics"] == first["metrics"]
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["models"][2]["params"]["factors"] = 8
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))
    third = cli("run", "smoke.yaml", "--json").json()
    assert third["stages"]["train/ials"]["reused_from"] is None
    assert third["stages"]["train/ease"]["reused_from"] == Path(first["path"]).name  # the run that made it


def test_same_config_and_seed_give_the_same_metrics(project):
    a = run_experiment(project / "smoke.yaml", project / "runs-a")
    b = run_experiment(project / "smoke.yaml", project / "runs-b")
    assert a["metrics"] == b["metrics"]


def test_ctrl_c_marks_the_run_incomplete_and_the_next_run_resumes(cli, project, monkeypatch):
    real_fit = IALS.fit

    def interrupted(self, train, callback=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(IALS, "fit", interrupted)
    assert cli("run", "smoke.yaml").code == 130
    runs = [p for p in (project / "runs" / "ci-smoke").iterdir() if p.is_dir()]
    assert len(runs) == 1 and not (project / "runs" / "ci-smoke" / "latest").exists()
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["stages"]["train/ials"]["status"] == "interrupted"
    assert manifest["stages"]["train/i2i"]["status"] == "done"

    monkeypatch.setattr(IALS, "fit", real_fit)
    summary = cli("run", "smoke.yaml", "--json").json()
    assert summary["path"] == str(project / "runs" / "ci-smoke" / runs[0].name)  # the same folder, resumed
    assert summary["status"] == "complete"
    assert json.loads((runs[0] / "manifest.json").read_text())["resumed_at"]


def test_a_second_run_of_the_same_experiment_is_locked_out(cli, project):
    with experiment_lock(project / "runs" / "ci-smoke", wait=False):
        result = cli("run", "smoke.yaml", "--no-wait")
    assert result.code == 1 and "another run" in result.err
    assert not any(p.is_dir() for p in (project / "runs" / "ci-smoke").iterdir())


def test_train_then_evaluate_commands(cli, project):
    trained = cli("train", "smoke.yaml", "--json").json()
    assert trained["status"] == "train done" and trained["metrics"] == {}
    assert (Path(trained["path"]) / "models" / "ials" / "state.npz").exists()
    evaluated = cli("evaluate", "smoke.yaml", "--json").json()
    assert evaluated["path"] == trained["path"] and set(evaluated["metrics"]) == {"pop", "i2i", "ials", "ease"}
    assert evaluated["stages"]["train/ials"]["status"] == "done"


def test_bad_configs_exit_2_naming_file_key_and_allowed_values(cli, project):
    _config(project / "smoke.yaml", models=[{"name": "a", "type": "ials", "params": {"factors": 0, "alpah": 1}}])
    result = cli("run", "smoke.yaml")
    assert result.code == 2
    assert "smoke.yaml" in result.err and "models[0].params.factors" in result.err and "alpha" in result.err
    (project / "typo.yaml").write_text("name: x\ndataset: data/x\nsplit: {strategy: leave-one-randon}\nmodels: [{name: a, type: popular}]\nmetric: {}\n")
    result = cli("run", "typo.yaml")
    assert result.code == 2 and "split.strategy" in result.err and "'leave-one-random'" in result.err
    assert "metric: unknown key; allowed: name, dataset, split, models, metrics" in result.err
    (project / "broken.yaml").write_text("name: [unclosed\n")
    result = cli("run", "broken.yaml")
    assert result.code == 2 and "line" in result.err
    assert not (project / "runs").exists()


def test_missing_dataset_folder_is_bad_input(cli, project):
    _config(project / "smoke.yaml", dataset="data/nowhere")
    result = cli("run", "smoke.yaml")
    assert result.code == 2 and "data/nowhere" in result.err


def test_user_holdout_and_temporal_protocols_run(cli, project):
    _config(project / "smoke.yaml", split={"strategy": "user-holdout", "test_users": 0.2, "seed": 1})
    summary = cli("run", "smoke.yaml", "--json").json()
    assert summary["metrics"]["ials"]["mrr@100"] > summary["metrics"]["pop"]["mrr@100"]
    _config(project / "smoke.yaml", split={"strategy": "temporal", "test_ratio": 0.2, "seed": 1})
    assert cli("run", "smoke.yaml", "-q").code == 0


def test_exported_recommendations_equal_a_fresh_recommend(project):
    """The export reuses the evaluation's top lists of test users; they must be what the
    saved model recommends."""
    import numpy as np

    from recsys_cli.models.registry import model_class

    summary = run_experiment(project / "smoke.yaml", project / "runs")
    run = Path(summary["path"])
    split = load_split(Path(json.loads((run / "manifest.json").read_text())["stages"]["split"]["path"]))
    model = model_class("item-knn").load(run / "models" / "i2i")
    ids, _ = model.recommend(split.test_users, split.history, 20)
    exported = pl.read_parquet(run / "recommendations" / "i2i.parquet").sort("user_id", "rank")
    users = pl.read_parquet(Path("data/ci-smoke/users.parquet")).sort("user_idx")["user_id"].to_numpy()
    items = pl.read_parquet(Path("data/ci-smoke/items.parquet")).sort("item_idx")["item_id"].to_numpy()
    expected = pl.DataFrame({"user_id": np.repeat(users[split.test_users], 20), "item_id": items[ids.ravel()],
                             "rank": np.tile(np.arange(1, 21), len(split.test_users))}).sort("user_id", "rank")
    assert exported.select("user_id", "item_id", "rank").equals(expected.with_columns(pl.col("rank").cast(pl.Int32)))


def test_a_model_entry_filter_seen_overrides_the_metrics_default(project):
    """personal-popular with `filter_seen: false` recommends (and is scored on) seen items;
    the other models keep metrics.filter_seen: true."""
    import numpy as np

    _config(project / "smoke.yaml", models=[
        {"name": "pp", "type": "personal-popular", "filter_seen": False},
        {"name": "pop", "type": "popular"}],
        split={"strategy": "random-holdout", "test_ratio": 0.3, "seed": 1})
    summary = run_experiment(project / "smoke.yaml", project / "runs")
    run = Path(summary["path"])
    assert json.loads((run / "metrics.json").read_text())["protocol"]["filter_seen"] == {"pp": False, "pop": True}
    split = load_split(Path(json.loads((run / "manifest.json").read_text())["stages"]["split"]["path"]))
    users = pl.read_parquet(Path("data/ci-smoke/users.parquet")).select("user_id", "user_idx")
    items = pl.read_parquet(Path("data/ci-smoke/items.parquet")).select("item_id", "item_idx")
    seen = np.zeros(split.train.shape, dtype=bool)
    seen[split.train.nonzero()] = True
    for name, expect_seen in (("pp", True), ("pop", False)):
        listed = pl.read_parquet(run / "recommendations" / f"{name}.parquet").join(users, on="user_id").join(items, on="item_id")
        share = seen[listed["user_idx"].to_numpy(), listed["item_idx"].to_numpy()].mean()
        assert share > 0.2 if expect_seen else share == 0.0, (name, share)
    assert summary["metrics"]["pp"]["mrr@10"] != summary["metrics"]["pop"]["mrr@10"]


def test_the_manifest_records_every_seed_and_they_derive_from_the_experiment_seed(project):
    from recsys_cli.core.seeds import derived_seed, validation_seed

    config = yaml.safe_load((project / "smoke.yaml").read_text())
    del config["split"]["seed"]
    config["seed"] = 7
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))
    summary = run_experiment(project / "smoke.yaml", project / "runs", until="train")
    manifest = json.loads((Path(summary["path"]) / "manifest.json").read_text())
    seeds = manifest["seeds"]
    assert seeds["experiment"] == 7
    assert {seeds[p] for p in ("split", "debug_slice", "bootstrap", "compare")} == {
        derived_seed(7, p) for p in ("split", "debug_slice", "bootstrap", "compare")}
    assert len({seeds[p] for p in ("split", "debug_slice", "bootstrap", "compare", "validation")}) == 5
    assert seeds["validation"] == validation_seed(seeds["split"]) != seeds["split"] + 1
    split_info = json.loads((Path(manifest["stages"]["split"]["path"]) / "split.json").read_text())
    assert (split_info["seed"], split_info["validation_seed"]) == (seeds["split"], seeds["validation"])
    dataset_info = json.loads(Path("data/ci-smoke/dataset.json").read_text())
    assert dataset_info["filters"]["seed"] == seeds["debug_slice"]
