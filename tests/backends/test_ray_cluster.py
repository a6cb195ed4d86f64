"""`backend: ray` on a two-node cluster started on this machine: `ray start --head` and a second
`ray start --address` with its own CPU and temp dir, as a user starts one. The cross-node path:
the model and matrices put once by the driver and fetched by the other node, the Optuna journal
that trials on both nodes write, and a node stopped mid-evaluation (its blocks are retried on
the head; the per-user metrics are still the local ones). Both nodes are stopped in a finally;
the last test stops the second node, so the tests run in file order."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'recsys_cli[ray]')")

from recsys_cli.backends.local import LocalBackend  # noqa: E402
from recsys_cli.backends.ray_backend import RayBackend  # noqa: E402
from recsys_cli.config.blocks import RayBlock  # noqa: E402
from recsys_cli.models.item_knn import ItemKNN  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).parent / "ray"
NODE_OPTIONS = ["--num-cpus", "1", "--object-store-memory", str(80 * 2**20),
                "--block"]  # --block: the command holds the node; SIGTERM stops it
HEAD_OPTIONS = ["--head", "--include-dashboard", "false", "--disable-usage-stats"]


class RecordingKNN(ItemKNN):
    """item-kNN that notes, in a folder, the Ray node of each block it ranks and then waits
    `delay` seconds (so that a block is in flight when a node is stopped)."""

    folder = ""
    delay = 0.0

    def recommend(self, users, history, k, filter_seen=True, fold_in=False):
        node = ray.get_runtime_context().get_node_id()
        (Path(self.folder) / f"{node}.{int(users[0])}").touch()
        time.sleep(self.delay)
        return super().recommend(users, history, k, filter_seen=filter_seen, fold_in=fold_in)


def node_objective(trial):
    """A trial that writes to the study's storage from whichever node runs it."""
    trial.set_user_attr("node", ray.get_runtime_context().get_node_id())
    for step in range(3):
        trial.report(trial.params["x"] * step, step)
        time.sleep(0.3)
    return trial.params["x"]


class Cluster:
    def __init__(self, base: Path, env: dict):
        self.base, self.env, self.nodes = base, env, {}
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{probe.getsockname()[1]}"

    def start(self, name: str, *where: str) -> None:
        self.nodes[name] = subprocess.Popen(
            [str(RAY), "start", *where, "--temp-dir", str(self.base / name), *NODE_OPTIONS], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self, name: str) -> None:
        process = self.nodes.pop(name)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # `ray start --block` then stops its node's processes
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def alive_nodes(self) -> list[str]:
        return sorted(node["NodeID"] for node in ray.nodes() if node["Alive"])


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (ConnectionError, RuntimeError):
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(f"waited {seconds:.0f} s for {what}")


@pytest.fixture(scope="module")
def cluster():
    if not RAY.exists():
        pytest.skip(f"no `ray` command beside {sys.executable}")
    base = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    # Token authentication off for this private cluster (Ray 2.5x enables it when a token file
    # exists, and a driver would then need the same setting); the nodes' workers import this checkout.
    env = {**os.environ, "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cluster = Cluster(base, env)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        try:
            cluster.start("head", *HEAD_OPTIONS, "--port", cluster.address.rsplit(":", 1)[1])
            wait_for(lambda: ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR") is not None,
                     90, "the head node")
            cluster.start("second", "--address", cluster.address)
            wait_for(lambda: len(cluster.alive_nodes()) == 2, 90, "the second node")
            yield cluster
        finally:
            ray.shutdown()
            for name in list(cluster.nodes)[::-1]:
                cluster.stop(name)
            shutil.rmtree(base, ignore_errors=True)


def likes(n_users=80, n_items=60, seed=0):
    """(train, test): random likes with one of each user's items held out."""
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < 0.15
    dense[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    held = np.array([rng.choice(np.flatnonzero(row)) for row in dense])
    test = sp.csr_matrix((np.ones(n_users, np.float32), (np.arange(n_users), held)), shape=dense.shape)
    dense[np.arange(n_users), held] = False
    return sp.csr_matrix(dense.astype(np.float32)), test


def evaluate_on_both(cluster, tmp_path, delay: float, during=None):
    """(local evaluation, Ray evaluation on the cluster, nodes that ranked a block, the backend's
    model ref); `during(folder)` runs in this thread while the Ray evaluation runs in another."""
    train, test = likes()
    local = LocalBackend().evaluate(ItemKNN({"neighbors": 20}).fit(train), train, test, train, [5, 20],
                                    ["mrr", "recall", "ndcg"])
    model = RecordingKNN({"neighbors": 20}).fit(train)
    model.folder, model.delay = str(tmp_path), delay
    with RayBackend(RayBlock(address=cluster.address, shard_users=10), verbose=False) as backend:
        outcome = {}
        worker = threading.Thread(target=lambda: outcome.update(result=backend.evaluate(
            model, train, test, train, [5, 20], ["mrr", "recall", "ndcg"])))
        worker.start()
        if during is not None:
            during(tmp_path, worker)
        worker.join(300)
        nodes = {path.name.split(".")[0] for path in tmp_path.iterdir()}
        return local, outcome["result"], nodes, backend._share(model)


def test_blocks_run_on_both_nodes_with_the_model_put_once_and_the_local_metrics(cluster, tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the nodes cannot import tests/
    local, remote, nodes, model_ref = evaluate_on_both(cluster, tmp_path, delay=0.3)
    assert nodes == set(cluster.alive_nodes())  # blocks ranked on both nodes
    where = ray.experimental.get_object_locations([model_ref])[model_ref]["node_ids"]
    assert set(where) == nodes  # the model went to the second node's object store once, for all its blocks
    assert remote.per_user.equals(local.per_user) and remote.summary == local.summary
    assert np.array_equal(remote.top_ids, local.top_ids)


def test_trials_on_both_nodes_write_one_journal(cluster, tmp_path):
    import optuna

    from recsys_cli.tuning.study import open_storage

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    storage = tmp_path / "study.journal"
    study = optuna.create_study(study_name="two-nodes", storage=open_storage(storage), direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    with RayBackend(RayBlock(address=cluster.address, parallel_trials=2), verbose=False) as backend:
        backend._optimize(study, node_objective, lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=4,
                          timeout=None, n_jobs=2, callbacks=[], catch=(), storage=storage, study_name="two-nodes")
    trials = optuna.load_study(study_name="two-nodes", storage=open_storage(storage)).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert {t.user_attrs["node"] for t in trials} == set(cluster.alive_nodes())  # both nodes wrote the journal
    assert all(sorted(t.intermediate_values) == [0, 1, 2] for t in trials)


def test_a_node_stopped_mid_evaluation_costs_retries_not_the_metrics(cluster, tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    second = next(node for node in cluster.alive_nodes() if node != ray.get_runtime_context().get_node_id())
    stopped_while_running = []

    def stop_the_second_node(folder, evaluation):
        wait_for(lambda: any(p.name.startswith(second) for p in folder.iterdir()), 120, "a block on the second node")
        stopped_while_running.append(evaluation.is_alive())
        cluster.stop("second")

    local, remote, nodes, _ = evaluate_on_both(cluster, tmp_path, delay=1.0, during=stop_the_second_node)
    assert stopped_while_running == [True] and second in nodes
    assert cluster.alive_nodes() == [ray.get_runtime_context().get_node_id()]
    assert remote.per_user.equals(local.per_user) and remote.summary == local.summary
