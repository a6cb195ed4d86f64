"""Counts are not likes: the weightings, their use in models and at ingest, and the warning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
import yaml

from recsys_cli.run import run_experiment
from recsys_cli.stages.env import Reporter
from recsys_cli.core.errors import InputError
from recsys_cli.models.weighting import apply_weighting, item_totals, spread_warning, unweighted_warning

from conftest import read_matrix

ROOT = Path(__file__).resolve().parents[2]


def counts() -> sp.csr_matrix:
    # users x items; user 0 plays item 0 a lot
    return sp.csr_matrix(np.array([[1000.0, 1.0, 0.0], [2.0, 0.0, 3.0], [0.0, 5.0, 1.0], [1.0, 1.0, 1.0]]))


def test_binary_and_log1p_by_hand():
    m = counts()
    assert apply_weighting(m, "binary").toarray().tolist() == (m.toarray() > 0).astype(float).tolist()
    log = apply_weighting(m, "log1p", eps=2.0).toarray()
    assert log[0, 0] == pytest.approx(np.log(1 + 1000 / 2)) and log[1, 2] == pytest.approx(np.log(2.5))
    assert log[0, 2] == 0 and apply_weighting(m, "log1p").nnz == m.nnz
    assert apply_weighting(m, "none").toarray().tolist() == m.toarray().tolist()


def test_bm25_and_tfidf_are_implicits_helpers_on_items_x_users():
    from implicit.nearest_neighbours import bm25_weight, tfidf_weight

    rng = np.random.default_rng(0)
    m = sp.random(60, 40, density=0.15, random_state=1, format="csr", dtype=np.float32)
    m.data = np.ceil(m.data * rng.pareto(1.1, m.nnz) * 50)
    for scheme, reference in (("bm25", lambda x: bm25_weight(x, K1=100, B=0.8)), ("tfidf", tfidf_weight)):
        expected = reference(m.T.tocsr()).T.toarray()
        assert apply_weighting(m, scheme).toarray() == pytest.approx(expected, rel=1e-5), scheme
    other = bm25_weight(m.T.tocsr(), K1=5, B=0.3).T.toarray()
    assert apply_weighting(m, "bm25", k1=5, b=0.3).toarray() == pytest.approx(other, rel=1e-5)


def test_bm25_weighs_a_batch_of_rows_as_the_whole_training_matrix_does():
    m = sp.random(30, 20, density=0.2, random_state=4, format="csr")
    m.data = np.ceil(m.data * 40)
    whole = apply_weighting(m, "bm25").toarray()
    batch = apply_weighting(m[[1, 3]], "bm25", totals=item_totals(m)).toarray()
    assert batch == pytest.approx(whole[[1, 3]], rel=1e-5)
    assert not np.allclose(apply_weighting(m[[1, 3]], "bm25").toarray(), whole[[1, 3]])  # without: it drifts


def test_a_user_with_the_whole_catalogue_keeps_positive_weights():
    m = sp.csr_matrix(np.array([[1.0, 2, 3, 4], [1, 0, 0, 0], [0, 1, 0, 0]]))  # user 0: idf = log(4/5) < 0
    for scheme in ("bm25", "tfidf"):
        weighted = apply_weighting(m, scheme)
        assert weighted.nnz == m.nnz and (weighted.data > 0).all()
        assert weighted[0].data == pytest.approx(weighted[1:].data.min())
    assert (apply_weighting(sp.csr_matrix(np.ones((3, 2))), "tfidf").data == 1).all()  # nobody informative


def test_bad_values_and_schemes_are_refused():
    bad = counts()
    bad.data[0] = -1
    with pytest.raises(InputError, match="non-negative"):
        apply_weighting(bad, "log1p")
    with pytest.raises(InputError, match="unknown weighting"):
        apply_weighting(counts(), "sqrt")


def test_the_spread_warning_fires_on_raw_heavy_tails_only():
    heavy = sp.csr_matrix(np.array([[1.0, 1.0, 5000.0], [2.0, 1.0, 0.0]]))
    assert "orders of magnitude" in spread_warning(1.0, 5000.0) and spread_warning(1.0, 999.0) is None
    from recsys_cli.models.als import IALS
    from recsys_cli.models.ease import EASE

    assert unweighted_warning(IALS().params, heavy) is not None
    assert unweighted_warning(IALS({"weighting": "log1p"}).params, heavy) is None
    assert unweighted_warning(EASE().params, heavy) is None  # EASE binarises: counts do not reach it


def test_ials_with_a_weighting_fits_on_the_weighted_confidence(tmp_path):
    from recsys_cli.models.als import IALS

    rng = np.random.default_rng(0)
    m = sp.random(80, 50, density=0.1, random_state=2, format="csr", dtype=np.float32)
    m.data = np.ceil(m.data * rng.pareto(1.1, m.nnz) * 100)
    model = IALS({"weighting": "bm25", "factors": 4, "iterations": 2}).fit(m)
    expected = 1 + 10 * apply_weighting(m[[3, 7]], "bm25", totals=item_totals(m)).toarray()
    assert model.prepare(m[[3, 7]]).toarray()[m[[3, 7]].toarray() > 0] == pytest.approx(expected[m[[3, 7]].toarray() > 0])
    model.save(tmp_path / "ials")
    loaded = IALS.load(tmp_path / "ials")
    assert np.array_equal(loaded.item_totals, model.item_totals)
    users = np.arange(10)
    assert np.array_equal(loaded.recommend(users, m, 5, fold_in=True)[0], model.recommend(users, m, 5, fold_in=True)[0])
    raw = IALS({"factors": 4, "iterations": 2}).fit(m)
    assert not np.allclose(raw.model.item_factors, model.model.item_factors)


def test_item_knn_with_binary_weighting_is_item_knn_on_binarised_counts():
    from recsys_cli.models.item_knn import ItemKNN

    m = counts()
    binary = (m > 0).astype(np.float32)
    weighted = ItemKNN({"weighting": "binary"}).fit(m)
    plain = ItemKNN().fit(binary)
    assert weighted.similarity.toarray() == pytest.approx(plain.similarity.toarray())
    assert weighted.score(np.arange(4), m) == pytest.approx(plain.score(np.arange(4), binary))


def test_weighting_is_in_the_default_tune_spaces_and_validates():
    from recsys_cli.config.load import parse_experiment
    from recsys_cli.models.als import IALS
    from recsys_cli.models.item_knn import ItemKNN

    assert "weighting" in IALS.tune_space and "weighting" in ItemKNN.tune_space
    config = yaml.safe_load((ROOT / "configs" / "ci-smoke.yaml").read_text())
    config["models"] = [{"name": "ials", "type": "ials", "tune": True},
                        {"name": "bad", "type": "ials", "params": {"weighting": "sqrt"}}]
    with pytest.raises(InputError, match=r"models\[1\]\.params\.weighting"):
        parse_experiment(config, "x.yaml")


def plays_csv(path: Path) -> Path:
    rng = np.random.default_rng(3)
    users, items = rng.integers(0, 50, 600), rng.integers(0, 40, 600)
    plays = np.ceil(rng.pareto(1.0, 600) * 20).astype(int) + 1
    plays[:30] = 500_000  # several, so a held-out cell never takes them all out of train
    pl.DataFrame({"user": users, "artist": items, "plays": plays}).write_csv(path)
    return path


def test_ingest_weighting_is_applied_to_the_matrix_and_recorded(cli, tmp_path):
    source = plays_csv(tmp_path / "plays.csv")
    raw = cli("ingest", "table", source, "--user", "user", "--item", "artist", "--weight", "plays", "--out", tmp_path / "raw")
    assert raw.code == 0 and "orders of magnitude" in raw.err  # warned: raw counts, no weighting
    done = cli("ingest", "table", source, "--user", "user", "--item", "artist", "--weight", "plays",
               "--out", tmp_path / "log", "--weighting", "log1p", "--weighting-eps", "2")
    assert done.code == 0 and "orders of magnitude" not in done.err
    expected = read_matrix(tmp_path / "raw" / "matrix.npz")
    expected.data = np.log1p(expected.data / 2).astype(np.float32)
    assert read_matrix(tmp_path / "log" / "matrix.npz").toarray() == pytest.approx(expected.toarray())
    info = json.loads((tmp_path / "log" / "dataset.json").read_text())
    assert info["weighting"] == "log1p" and info["filters"]["weighting_eps"] == 2
    assert info["fingerprint"] != json.loads((tmp_path / "raw" / "dataset.json").read_text())["fingerprint"]
    events = pl.read_parquet(tmp_path / "log" / "events.parquet")
    assert events["weight"].max() == 500_000  # the log keeps the raw counts
    refused = cli("ingest", "table", source, "--user", "user", "--item", "artist", "--weight", "plays",
                  "--out", tmp_path / "bm25", "--weighting", "bm25")
    assert refused.code == 2 and "model parameters" in refused.err and not (tmp_path / "bm25").exists()


def test_a_run_on_raw_counts_warns_and_records_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = plays_csv(tmp_path / "plays.csv")
    config = {"name": "counts", "dataset": {"format": "table", "path": str(source), "user": "user", "item": "artist",
                                            "weight": "plays", "weighting": "binary", "out": "data/binary"},
              "split": {"strategy": "leave-one-random", "test_users": 0.3},
              "models": [{"name": "raw", "type": "ials", "params": {"factors": 4, "iterations": 2}},
                         {"name": "log", "type": "ials", "params": {"factors": 4, "iterations": 2, "weighting": "log1p"}}],
              "metrics": {"k": [10], "names": ["mrr"]}, "export": {"recommendations": 0, "similar": 0}}
    (tmp_path / "binary.yaml").write_text(yaml.safe_dump(config))
    binary_run = run_experiment(tmp_path / "binary.yaml", tmp_path / "runs")
    assert read_matrix(tmp_path / "data" / "binary" / "matrix.npz").data.max() == 1.0  # the ingest option
    assert "warning" not in json.loads((Path(binary_run["path"]) / "manifest.json").read_text())["stages"]["train/raw"]

    del config["dataset"]["weighting"]
    config.update(name="raw-counts")
    config["dataset"]["out"] = "data/raw"
    (tmp_path / "raw.yaml").write_text(yaml.safe_dump(config))
    messages = []

    class Collect(Reporter):
        def message(self, text):
            messages.append(text)

    summary = run_experiment(tmp_path / "raw.yaml", tmp_path / "runs", reporter=Collect())
    stages = json.loads((Path(summary["path"]) / "manifest.json").read_text())["stages"]
    assert "orders of magnitude" in stages["train/raw"]["warning"] and "warning" not in stages["train/log"]
    assert [m.split(":")[0] for m in messages] == ["raw"]
