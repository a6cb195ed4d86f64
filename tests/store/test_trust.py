"""Trust mechanics: output folders never destroy user files, stale temporaries are cleaned,
SIGTERM ends a run like Ctrl-C, a split is only used with its dataset, two runs sharing a
dataset folder never see it change, and ingest is byte-identical for every format."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES
from recsys_cli.data.csr_file import read_sparse
from recsys_cli.core.errors import InputError

RECSYS = [sys.executable, "-m", "recsys_cli"]


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- output folders ----------------------------------------------------------------------

def test_force_replaces_a_recsys_folder_but_never_a_foreign_one(cli, tmp_path):
    out = tmp_path / "ds"
    assert cli("ingest", "synthetic", "--out", out, "--quiet").code == 0
    assert cli("ingest", "synthetic", "--out", out, "--seed", "3", "--force", "--quiet").code == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = cli("ingest", "synthetic", "--out", tmp_path / "mine", "--force")
    assert result.code == 2 and "not a recsys dataset folder" in result.err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("ingest", "synthetic", "--out", empty, "--quiet").code == 0


def test_a_split_never_overwrites_a_foreign_folder(cli, tmp_path):
    assert cli("ingest", "synthetic", "--out", tmp_path / "ds", "--quiet").code == 0
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "a.txt").write_text("x")
    result = cli("split", tmp_path / "ds", "--strategy", "leave-one-random", "--out", tmp_path / "target")
    assert result.code == 2 and "not a recsys split folder" in result.err
    assert (tmp_path / "target" / "a.txt").exists()


def test_stale_temporary_siblings_of_dead_processes_are_removed(cli, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".ds.tmp-{dead.pid}-deadbeef"
    stale.mkdir()
    (stale / "events.parquet").write_bytes(b"x" * 1000)
    live = tmp_path / f".ds.tmp-{os.getpid()}-cafecafe"  # a process still running: left alone
    live.mkdir()
    assert cli("ingest", "synthetic", "--out", tmp_path / "ds", "--quiet").code == 0
    assert not stale.exists() and live.exists()


# --- signals -----------------------------------------------------------------------------

SLOW_CONFIG = """name: slow
dataset: {format: synthetic, preset: small, out: data/slow}
split: {strategy: leave-one-random, test_users: 0.2}
models:
  - {name: pop, type: popular}
  - {name: ials, type: ials, params: {factors: 256, iterations: 1000}}
"""


def test_sigterm_marks_the_run_interrupted_and_exits_143(tmp_path):
    (tmp_path / "slow.yaml").write_text(SLOW_CONFIG)
    process = subprocess.Popen([*RECSYS, "run", "slow.yaml", "--quiet"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    manifest = None
    while time.time() < deadline and process.poll() is None:
        manifests = list((tmp_path / "runs" / "slow").glob("*/manifest.json"))
        if manifests:
            stages = json.loads(manifests[0].read_text()).get("stages", {})
            if stages.get("train/ials", {}).get("status") == "running":
                manifest = manifests[0]
                break
        time.sleep(0.1)
    assert manifest is not None, "the run never reached training"
    time.sleep(0.5)
    os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "Traceback" not in err and "terminated" in err
    record = json.loads(manifest.read_text())
    assert record["status"] == "interrupted"
    assert record["stages"]["train/ials"]["status"] == "interrupted"
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]


# --- a split belongs to its dataset ------------------------------------------------------

def test_a_split_of_another_dataset_is_refused(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, seed in (("a", "1"), ("b", "2")):
        assert cli("ingest", "synthetic", "--out", name, "--seed", seed, "--quiet").code == 0
    assert cli("split", "a", "--strategy", "leave-one-random", "--out", "split-a", "--quiet").code == 0
    (tmp_path / "exp.yaml").write_text(
        "name: wrong\ndataset: b\nsplit: {path: split-a}\nmodels:\n  - {name: pop, type: popular}\n")
    result = cli("run", "exp.yaml")
    assert result.code == 2 and "made from another dataset" in result.err and "split-a" in result.err


def test_a_replaced_split_part_is_refused(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("ingest", "synthetic", "--out", "a", "--quiet").code == 0
    assert cli("split", "a", "--strategy", "leave-one-random", "--out", "s", "--quiet").code == 0
    train = sp.load_npz("s/train.npz")
    sp.save_npz("s/train.npz", train[:, ::-1].tocsr())  # same shape, other content
    (tmp_path / "exp.yaml").write_text("name: e\ndataset: a\nsplit: {path: s}\nmodels:\n  - {name: pop, type: popular}\n")
    result = cli("run", "exp.yaml")
    assert result.code == 2 and "train.npz" in result.err and "sha256" in result.err


# --- two runs, one dataset folder ---------------------------------------------------------

SHARED = """name: NAME
dataset: {format: synthetic, preset: small, seed: SEED, out: data/shared}
split: {strategy: leave-one-random, test_users: 0.2, seed: 1}
models:
  - {name: i2i, type: item-knn, params: {neighbors: 20}}
export: {recommendations: 0, similar: 0}
"""


def _metrics(result_out: str) -> dict:
    return json.loads(result_out)["metrics"]["i2i"]


def test_two_runs_sharing_a_dataset_folder_compute_on_their_own_data(tmp_path):
    for name, seed in (("one", 1), ("two", 2)):
        (tmp_path / f"{name}.yaml").write_text(SHARED.replace("NAME", name).replace("SEED", str(seed)))
    alone = {}
    for name in ("one", "two"):  # each alone, in its own project copy: the reference numbers
        solo = tmp_path / f"solo-{name}"
        solo.mkdir()
        shutil.copy(tmp_path / f"{name}.yaml", solo)
        done = subprocess.run([*RECSYS, "run", f"{name}.yaml", "--json"], cwd=solo, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        alone[name] = _metrics(done.stdout)
    assert alone["one"] != alone["two"]
    for _ in range(2):
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
        processes = {name: subprocess.Popen([*RECSYS, "run", f"{name}.yaml", "--json"], cwd=tmp_path,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for name in ("one", "two")}
        for name, process in processes.items():  # each reads its own stored version to the end
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            assert _metrics(out) == alone[name]  # never the other's data


# --- determinism ----------------------------------------------------------------------------

def _table_csv(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 3000
    pl.DataFrame({"u": rng.integers(0, 200, n), "i": rng.integers(0, 300, n),
                  "t": rng.integers(0, 50, n)}).write_csv(tmp / "t.csv")  # many equal timestamps
    return tmp / "t.csv"


def _table_parquet(tmp: Path) -> Path:
    pl.read_csv(_table_csv(tmp)).write_parquet(tmp / "t.parquet")
    return tmp / "t.parquet"


def _npz(tmp: Path) -> Path:
    sp.save_npz(tmp / "m.npz", sp.random(50, 40, density=0.2, format="csr", random_state=1, dtype=np.float32))
    return tmp / "m.npz"


FORMATS = [
    ("synthetic", lambda tmp: None, []),
    ("table-csv", _table_csv, ["--user", "u", "--item", "i", "--time", "t"]),
    ("table-parquet", _table_parquet, ["--user", "u", "--item", "i", "--time", "t"]),
    ("npz", _npz, []),
    ("movielens-100k", lambda tmp: FIXTURES / "ml-100k", []),
    ("movielens-1m", lambda tmp: FIXTURES / "ml-1m", []),
    ("movielens-latest", lambda tmp: FIXTURES / "ml-latest", []),
    ("dzen", lambda tmp: FIXTURES / "dzen", []),
    ("dzen-dict", lambda tmp: FIXTURES / "dzen-dict", []),
]


@pytest.mark.parametrize("name,make,options", FORMATS, ids=[f[0] for f in FORMATS])
def test_reingest_is_byte_identical(name, make, options, cli, tmp_path):
    fmt = name.split("-")[0]
    source = make(tmp_path)
    argv = ["ingest", fmt, *([source] if source is not None else []), *options, "--out", tmp_path / "ds", "--quiet"]
    assert cli(*argv).code == 0
    first = _folder_bytes(tmp_path / "ds")
    assert cli(*argv, "--force").code == 0
    assert _folder_bytes(tmp_path / "ds") == first


def test_reingest_is_byte_identical_for_ozon(cli, tmp_path, ozon_folder):  # noqa: F811
    argv = ["ingest", "ozon", ozon_folder, "--out", tmp_path / "ds", "--quiet"]
    assert cli(*argv).code == 0
    first = _folder_bytes(tmp_path / "ds")
    assert cli(*argv, "--force").code == 0
    assert _folder_bytes(tmp_path / "ds") == first


def test_synthetic_dzen_sized_ties_are_stable(cli, tmp_path):
    """The issue's case: equal timestamps were ordered differently on each ingest."""
    argv = ["ingest", "synthetic", "--seed", "5", "--quiet"]
    assert cli(*argv, "--out", tmp_path / "a").code == 0
    assert cli(*argv, "--out", tmp_path / "b").code == 0
    assert pl.read_parquet(tmp_path / "a" / "events.parquet").equals(pl.read_parquet(tmp_path / "b" / "events.parquet"))


# --- the CSR check, as a property ------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2, 8), min_size=1, max_size=6), st.lists(st.integers(-1, 4), min_size=0, max_size=8))
def test_an_npz_is_either_a_valid_csr_or_refused(tmp_path_factory, indptr, indices):
    path = tmp_path_factory.mktemp("npz") / "m.npz"
    rows, cols = len(indptr) - 1 if len(indptr) > 1 else 1, 4
    np.savez(path, format=np.array(b"csr"), shape=np.array([rows, cols]),
             data=np.ones(len(indices), np.float32), indices=np.array(indices, np.int32),
             indptr=np.array(indptr, np.int32))
    try:
        matrix = read_sparse(path)
    except InputError as error:
        assert "m.npz" in str(error)
        return
    matrix.check_format(full_check=True)
    assert matrix.shape == (rows, cols) and matrix.has_canonical_format
    assert np.array_equal(matrix.indptr, indptr) and sorted(matrix.indices.tolist()) == sorted(indices)


# --- environment failures and bounded resources ------------------------------------------------

def test_disk_full_is_exit_1_with_one_line_and_no_leftovers(cli, tmp_path, monkeypatch):
    import errno

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[0]) if args else None)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    result = cli("ingest", "synthetic", "--out", tmp_path / "ds")
    assert result.code == 1 and "No space left on device" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) <= 3  # one message (soft-wrapped at most)
    assert not (tmp_path / "ds").exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("folder", ["runs?mode=ro", "50%20off", "a{b}#c"])
def test_optuna_storage_stays_inside_the_named_folder(tmp_path, folder):
    import optuna

    from recsys_cli.tuning.study import storage_url

    path = tmp_path / folder / "study.db"
    path.parent.mkdir()
    storage = optuna.storages.RDBStorage(storage_url(path))
    optuna.create_study(storage=storage, study_name="s")
    assert path.is_file() and [p.name for p in tmp_path.iterdir()] == [folder]


def test_evaluation_batches_shrink_with_k_and_give_the_same_numbers(monkeypatch):
    from recsys_cli.evaluation import evaluate as ev
    from recsys_cli.models.popular import Popular

    assert ev.users_per_chunk(10) == ev.USERS_PER_CHUNK
    assert ev.users_per_chunk(5000) * 5000 <= ev.CELLS_PER_CHUNK
    assert ev.users_per_chunk(10**9) == 1
    train = sp.random(300, 80, density=0.1, format="csr", random_state=2, dtype=np.float32)
    train.data[:] = 1
    test = sp.random(300, 80, density=0.03, format="csr", random_state=3, dtype=np.float32)
    test.data[:] = 1
    model = Popular(seed=0, threads=1).fit(train)
    args = (model, train, test, train, [5, 60], ["mrr", "recall", "coverage"])
    whole = ev.evaluate(*args, keep=3, bootstrap=False)
    monkeypatch.setattr(ev, "CELLS_PER_CHUNK", 60 * 7)  # 7 users per batch
    batched = ev.evaluate(*args, keep=3, bootstrap=False)
    assert whole.summary == batched.summary and whole.per_user.equals(batched.per_user)
    assert batched.top_ids.shape == (len(batched.users), 3)
