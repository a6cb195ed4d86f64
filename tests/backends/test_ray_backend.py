"""`backend: ray` gives what `backend: local` gives: byte-identical per-user metrics and
exports for deterministic models, and the same trials when tuning one trial at a time.
One local Ray (2 CPUs) serves the whole module; skipped when Ray is not installed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from recsys_cli.run import run_experiment, tune_experiment

ray = pytest.importorskip("ray")

CONFIG = {
    "name": "eq",
    "dataset": {"format": "synthetic", "preset": "small", "seed": 7, "debug_slice": [0.3, 0.3], "out": "data/eq"},
    "split": {"strategy": "leave-one-random", "test_users": 0.3, "seed": 42, "validation": True},
    "models": [{"name": "pop", "type": "popular"},
               {"name": "i2i", "type": "item-knn", "params": {"neighbors": 30}},
               {"name": "ease", "type": "ease", "params": {"l2": 100}}],
    "metrics": {"k": [10], "names": ["mrr", "ndcg", "recall", "coverage"]},
    "export": {"recommendations": 10, "similar": 0, "users": "all"},
    "compare": {"k": 10, "anchors": 40},
    "seed": 42,
    "threads": 1,
}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _run(folder, backend: str, **ray_block):
    folder.mkdir()
    config = {**CONFIG, "backend": backend, "ray": ray_block,
              "dataset": {**CONFIG["dataset"], "out": str(folder.parent / "data")}}
    (folder / "exp.yaml").write_text(yaml.safe_dump(config))
    summary = run_experiment(folder / "exp.yaml", folder / "runs")
    return summary, folder / "runs" / "eq" / summary["run_id"]


def test_local_and_ray_give_byte_identical_per_user_metrics_and_exports(local_ray, tmp_path):
    local, local_run = _run(tmp_path / "local", "local")
    remote, ray_run = _run(tmp_path / "ray", "ray", num_cpus=2, shard_users=37)
    assert remote["metrics"] == local["metrics"]
    for folder in ("per_user", "recommendations"):
        names = sorted(p.name for p in (local_run / folder).iterdir())
        assert names == sorted(p.name for p in (ray_run / folder).iterdir()) and names
        for name in names:
            assert (local_run / folder / name).read_bytes() == (ray_run / folder / name).read_bytes(), name
    local_compare, ray_compare = (_compare_numbers(run / "compare" / "compare.json") for run in (local_run, ray_run))
    assert local_compare == ray_compare and len(local_compare["recommendation_agreement"]) == 3
    manifest = json.loads((ray_run / "manifest.json").read_text())["backend"]
    assert manifest["backend"] == "ray" and manifest["ray_version"] == ray.__version__
    assert manifest["shard_users"] == 37 and manifest["cluster_resources"]["CPU"] == 2
    assert json.loads((local_run / "manifest.json").read_text())["backend"] == {"backend": "local"}


def _compare_numbers(path) -> dict:
    """compare.json without which backend ranked the lists (a stored file names no run folder)."""
    result = json.loads(path.read_text())
    assert "path" not in result
    result.pop("backend")
    return result


def test_compare_ranks_test_users_in_ray_shards_with_the_local_numbers(local_ray, tmp_path, monkeypatch):
    from recsys_cli.backends import ray_backend
    from recsys_cli.serving.compare import compare_run

    _, run = _run(tmp_path / "local", "local", shard_users=37)  # a local run; compare it on Ray afterwards
    local = compare_run(run, k=5, anchors=20, backend="local")
    calls, original = [], ray_backend.RayBackend.map_user_blocks

    def counted(self, function, users, *shared, **options):
        calls.append(len(self._shards(users)))
        return original(self, function, users, *shared, **options)

    monkeypatch.setattr(ray_backend.RayBackend, "map_user_blocks", counted)
    remote = compare_run(run, k=5, anchors=20, backend="ray")
    assert calls and calls[0] >= 2  # the test users were really split into several Ray tasks
    assert remote["backend"]["backend"] == "ray" and local["backend"] == {"backend": "local"}
    for key in ("recommendation_agreement", "similar_agreement", "significance"):
        assert remote[key] == local[key], key
    overlaps = [row["overlap"] for row in local["recommendation_agreement"]]
    assert all(0.0 <= value <= 1.0 for value in overlaps) and len(overlaps) == 3


def test_tuning_one_trial_at_a_time_gives_the_local_trials(local_ray, tmp_path):
    from recsys_cli.tuning import study as tuning
    from recsys_cli.backends.local import LocalBackend
    from recsys_cli.backends.ray_backend import RayBackend
    from recsys_cli.config.blocks import RayBlock, TuneBlock
    from recsys_cli.data.formats.synthetic import read
    from recsys_cli.data.splits import Cells, TEST, leave_one_random

    events = read(preset="small", seed=3).events.collect()
    import scipy.sparse as sp

    matrix = sp.csr_matrix((np.ones(events.height, np.float32),
                            (events["user_id"].to_numpy() % 400, events["item_id"].to_numpy() % 300)), shape=(400, 300))
    matrix.data[:] = 1.0
    cells = Cells.from_matrix(matrix)
    labels = leave_one_random(cells, np.random.default_rng(0), 0.5)
    valid_train, valid = cells.to_csr(labels != TEST), cells.to_csr(labels == TEST)
    block = TuneBlock(trials=4, metric="mrr@10", pruner="none")
    common = dict(model_type="item-knn", base_params={}, block=block, space=tuning.space_for("item-knn", None),
                  validation=(valid_train, valid, valid_train, False), filter_seen=True, seed=5, threads=1,
                  jobs=1, trials=4)
    outcomes = []
    for name, backend in (("local", LocalBackend()), ("ray", RayBackend(RayBlock(parallel_trials=1)))):
        with backend:
            storage = backend.study_storage(tmp_path / name)
            outcomes.append(backend.run_study(storage_path=storage, study_name="s", **common))
    assert str(storage).endswith("study.journal")
    local, remote = (o.trials.drop("duration_s") for o in outcomes)
    assert local.height == 4 and local.equals(remote)
    assert outcomes[0].best_params == outcomes[1].best_params


def test_ray_study_resumes_from_its_journal(local_ray, tmp_path):
    summary, run = _run(tmp_path / "first", "ray", num_cpus=2, parallel_trials=2)
    config = yaml.safe_load((tmp_path / "first" / "exp.yaml").read_text())
    config["models"] = [{"name": "i2i", "type": "item-knn", "tune": {"trials": 3, "metric": "mrr@10"}}]
    (tmp_path / "first" / "exp.yaml").write_text(yaml.safe_dump(config))
    runs = tmp_path / "first" / "runs"
    first = tune_experiment(tmp_path / "first" / "exp.yaml", runs, trials=3)
    again = tune_experiment(tmp_path / "first" / "exp.yaml", runs, trials=5)
    assert first["tuning"]["i2i"]["complete"] == 3 and again["tuning"]["i2i"]["complete"] == 5
    assert (runs / "eq" / "tune" / "i2i" / "study.journal").is_file()


def test_a_task_whose_worker_dies_is_retried(local_ray, tmp_path):
    """A worker killed under a shard (the OOM killer on a busy machine) costs a retry, not the run."""
    from recsys_cli.backends.ray_backend import RayBackend
    from recsys_cli.config.blocks import RayBlock

    def dies_once(users, marker):
        import os
        from pathlib import Path

        if not Path(marker).exists():
            Path(marker).touch()
            os._exit(1)  # the worker process vanishes, as when SIGKILLed
        return users.sum()

    with RayBackend(RayBlock(shard_users=4)) as backend:
        parts = backend.map_user_blocks(dies_once, np.arange(8), str(tmp_path / "died"), block=4)
    assert parts == [6, 22] and (tmp_path / "died").exists()


@pytest.mark.parametrize("split, tune", [
    ({"strategy": "temporal", "test_ratio": 0.2, "seed": 42}, {"trials": 2, "metric": "mrr@50"}),  # cold users, tuned vs default
    ({"strategy": "leave-one-random", "test_users": 0.5, "seed": 42, "folds": 2}, None),  # repeats over folds
], ids=["cold-users-and-default-vs-tuned", "folds"])
def test_every_evaluation_of_a_run_goes_through_the_backend_with_the_local_numbers(local_ray, tmp_path, split, tune):
    """Default-vs-tuned, the cold users' fallback and every fold are evaluated by the backend's
    one `evaluate` call, so Ray gives exactly the local numbers, coverage included."""
    models = [{"name": "pop", "type": "popular"},
              {"name": "i2i", "type": "item-knn", "params": {"neighbors": 30}, **({"tune": tune} if tune else {})}]
    summaries, runs = {}, {}
    for backend, block in (("local", {}), ("ray", {"num_cpus": 2, "shard_users": 29})):
        folder = tmp_path / backend
        folder.mkdir()
        config = {**CONFIG, "split": split, "models": models, "compare": None, "backend": backend, "ray": block,
                  "metrics": {"k": [10, 50], "names": ["mrr", "recall", "coverage", "novelty"]},
                  "dataset": {**CONFIG["dataset"], "out": str(tmp_path / "data")}}
        (folder / "exp.yaml").write_text(yaml.safe_dump(config))
        summaries[backend] = run_experiment(folder / "exp.yaml", folder / "runs")
        runs[backend] = folder / "runs" / "eq" / summaries[backend]["run_id"]
    local, remote = summaries["local"], summaries["ray"]
    assert remote["metrics"] == local["metrics"] and local["metrics"]["i2i"]["coverage@50"] > 0
    assert remote["cold_users"] == local["cold_users"] and remote["repeats"] == local["repeats"]
    results = ("default_validation", "best_validation", "default_test", "test", "best_params")
    assert {m: {k: t[k] for k in results} for m, t in remote["tuning"].items()} == \
        {m: {k: t[k] for k in results} for m, t in local["tuning"].items()}
    if tune:
        assert local["cold_users"] and local["tuning"]["i2i"]["default_test"] is not None
    else:
        assert local["repeats"]["count"] == 2
    local_files = sorted(p.relative_to(runs["local"]) for p in runs["local"].rglob("per_user/*.parquet"))
    assert local_files == sorted(p.relative_to(runs["ray"]) for p in runs["ray"].rglob("per_user/*.parquet"))
    for relative in local_files:
        assert (runs["local"] / relative).read_bytes() == (runs["ray"] / relative).read_bytes(), relative
