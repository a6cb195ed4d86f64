"""implicit's factor models: a query of a few rows answered with numpy equals implicit's answer,
ties are listed by item index, implicit runs with one BLAS thread, and the query verbs import
only what answers them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.models.factorization import QUERY_ROWS, ties_by_index
from recsys_cli.models.registry import model_class

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"als": {"factors": 8, "iterations": 3}, "ials": {"factors": 8, "iterations": 3},
          "bpr": {"factors": 8, "iterations": 10}, "lmf": {"factors": 8, "iterations": 5}}


def likes(users=3 * QUERY_ROWS, items=150, seed=0):
    matrix = sp.random(users, items, density=0.06, format="csr", dtype=np.float32, random_state=seed)
    matrix.data[:] = 1.0
    return matrix


def assert_same_products(ours, implicits):
    """The same float32 products up to rounding: OpenBLAS picks its kernel by the matrix's shape
    on some CPUs (AMD EPYC here), so a 64-row product and a 192-row one may round differently,
    by a float32 epsilon or so of the products' scale."""
    scale = np.abs(implicits[np.isfinite(implicits)]).max()
    np.testing.assert_allclose(ours, implicits, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("model_type", sorted(PARAMS))
def test_a_query_of_a_few_rows_gives_implicits_lists_and_scores(model_type):
    train = likes()
    model = model_class(model_type)(PARAMS[model_type], seed=3, threads=1).fit(train)
    users = np.arange(train.shape[0])
    assert len(users) > QUERY_ROWS  # one call: implicit's top-k
    ids, scores = model.recommend(users, train, 20)
    blocks = [model.recommend(users[s:s + QUERY_ROWS], train, 20) for s in range(0, len(users), QUERY_ROWS)]
    assert np.array_equal(np.concatenate([b[0] for b in blocks]), ids)
    assert_same_products(np.concatenate([b[1] for b in blocks]), scores)

    items = np.arange(train.shape[1])
    ids, scores = model.similar_items(items, 7)
    blocks = [model.similar_items(items[s:s + QUERY_ROWS], 7) for s in range(0, len(items), QUERY_ROWS)]
    assert np.array_equal(np.concatenate([b[0] for b in blocks]), ids)
    assert_same_products(np.concatenate([b[1] for b in blocks]), scores)
    assert not (ids == items[:, None]).any()


def test_ties_are_listed_by_item_index_and_other_rows_are_untouched():
    ids = np.array([[9, 4, 7, 1], [3, 2, 1, 0]], dtype=np.int32)
    scores = np.array([[5.0, 2.0, 2.0, -np.inf], [4.0, 3.0, 2.0, 1.0]], dtype=np.float32)
    ids, scores = ties_by_index(ids, scores)
    assert ids.tolist() == [[9, 4, 7, 1], [3, 2, 1, 0]]
    ids, scores = ties_by_index(np.array([[9, 7, 4, 8, 1]], np.int32),
                                np.array([[5.0, 2.0, 2.0, -np.inf, -np.inf]], np.float32))
    assert ids.tolist() == [[9, 4, 7, 1, 8]] and scores[0, :3].tolist() == [5.0, 2.0, 2.0]


def test_implicit_recommends_folds_in_and_finds_similar_items_with_one_blas_thread(monkeypatch):
    from threadpoolctl import threadpool_info

    train = likes()
    model = model_class("ials")(PARAMS["ials"], seed=3).fit(train)
    seen = []

    def recording(method):
        def call(*args, **kwargs):
            seen.append({info["filepath"]: info["num_threads"] for info in threadpool_info()
                         if info["user_api"] == "blas"})
            return method(*args, **kwargs)
        return call

    monkeypatch.setattr(model.model, "recommend", recording(model.model.recommend))
    monkeypatch.setattr(model.model, "similar_items", recording(model.model.similar_items))
    users = np.arange(train.shape[0])
    model.recommend(users, train, 5)
    model.recommend(users[:3], train, 5, fold_in=True)
    model.similar_items(np.arange(train.shape[1]), 5)
    assert len(seen) == 3 and all(threads and set(threads.values()) == {1} for threads in seen)


def test_a_loaded_factor_model_answers_a_query_without_importing_implicit(tmp_path):
    train = likes()
    model_class("ials")(PARAMS["ials"], seed=3).fit(train).save(tmp_path / "ials")
    sp.save_npz(tmp_path / "train.npz", train)
    script = f"""
import sys, numpy as np, scipy.sparse as sp
from recsys_cli.models.registry import model_class
model = model_class("ials").load(__import__("pathlib").Path({str(tmp_path / "ials")!r}))
train = sp.load_npz({str(tmp_path / "train.npz")!r}).tocsr()
model.recommend(np.arange(3), train, 5)
model.similar_items(np.array([0, 1]), 5)
print("implicit" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def smoke_run(smoke_project):
    return smoke_project[0]


HEAVY = ("implicit", "yaml", "matplotlib", "optuna", "numba", "sklearn", "ray")


@pytest.mark.parametrize("argv", [
    ["recommend", "runs/ci-smoke", "--user", "1", "-m", "ials", "-m", "i2i", "-m", "pop", "--json"],
    ["similar", "runs/ci-smoke", "--item", "1", "-m", "ials", "-m", "i2i"],
], ids=["recommend", "similar"])
def test_the_query_verbs_import_only_what_answers_them(smoke_run, argv):
    script = f"""
import json, sys
from recsys_cli.cli.app import main
code = main({argv!r})
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}), file=sys.stderr)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=smoke_run,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    result = json.loads(out.stderr.strip().splitlines()[-1])
    assert result == {"code": 0, "heavy": []}, out.stderr


def test_blas_guard_loads_no_implicit():
    script = "import sys; from recsys_cli.models.factorization import single_threaded_blas\n" \
             "with single_threaded_blas(): pass\nprint('implicit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
