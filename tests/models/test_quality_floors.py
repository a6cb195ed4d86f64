"""Per-model quality floors on the synthetic data (in the manner of lkpy's per-model tests):
a model that still runs but has stopped learning (or a ranker that ignores its features)
falls below its floor.

Data: the `small` synthetic preset, a 30% x 30% debug slice (~1,200 users x 600 items),
leave-one-random over 30% of users. Parameters are small so the module runs in seconds.
Measured MRR@100 when the floors were set (popularity 0.056): item-knn 0.21, als 0.22,
ials 0.21, ials-rendle 0.20, bpr 0.16, lmf 0.15, ease 0.24, slim 0.22, pure-svd 0.21, warp 0.16,
content 0.21, rerank 0.22, rp3beta 0.21, random 0.009; (issue 27) dlae 0.22, edlae 0.24, sparse-ease
0.24, blend 0.24.
"""

from __future__ import annotations

import pytest

from recsys_cli.stages import ingest as ingest_stage
from recsys_cli.stages import split as split_stage
from recsys_cli.data.split_folder import load_split
from recsys_cli.data.dataset import Dataset
from recsys_cli.data.filters import IngestFilters
from recsys_cli.evaluation.evaluate import evaluate
from recsys_cli.models.registry import MODELS, build_model

# MRR@100 must reach FLOOR x popularity's. None: the model learns from rating values, and
# synthetic likes are all 1 (its ranking quality is meaningless here; the rating models'
# RMSE is checked on real ratings in test_movielens_real.py).
FLOOR = {
    "popular": 1.0,  # by definition; popularity itself is checked against random below
    "personal-popular": 0.95,  # with seen items filtered it is the global top
    "item-knn": 2.5,
    "als": 2.5,
    "ials": 2.5,
    "ials-rendle": 2.5,
    "bpr": 2.0,
    "lmf": 1.8,
    "ease": 3.0,
    "dlae": 3.0,
    "edlae": 3.0,
    "sparse-ease": 3.0,
    "blend": 3.0,
    "rp3beta": 2.5,
    "slim": 2.5,
    "pure-svd": 2.5,
    "warp": 2.0,
    "content": 2.5,  # the planted categories are the items' metadata
    "rerank": 2.5,
    "funk-svd": None,
    "als-explicit": None,
}
RANDOM_CEILING = 0.5  # random must stay below half of popularity: else the metric is broken
IALS = {"factors": 16, "iterations": 5}
PARAMS = {
    "als": IALS, "ials": IALS, "ials-rendle": IALS, "bpr": {"factors": 16, "iterations": 50}, "lmf": {"factors": 16, "iterations": 15},
    "warp": {"factors": 16, "epochs": 20, "learning_rate": 0.02}, "pure-svd": {"factors": 16},
    "slim": {"candidates": 20, "max_iter": 30},
    "blend": {"components": [{"type": "edlae"}, {"type": "ials-rendle", "params": IALS}]},
    "rerank": {"generators": [{"type": "ials", "params": IALS, "candidates": 30},
                              {"type": "item-knn", "candidates": 30}, {"type": "popular", "candidates": 10}],
               "n_estimators": 30},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("floors")
    ingest_stage.ingest("synthetic", None, root / "ds", {"preset": "small", "seed": 7}, IngestFilters(debug_slice=(0.3, 0.3)))
    split_stage.split(root / "ds", "leave-one-random", root / "split", {"test_users": 0.3}, seed=1)
    return load_split(root / "split"), Dataset.open(root / "ds").items


def mrr(model_type: str, data, params=None) -> float:
    split, items = data
    model = build_model(model_type, PARAMS.get(model_type) if params is None else params, seed=1, threads=1,
                        items=items).fit(split.train)
    result = evaluate(model, split.train, split.test, split.history, [100], ["mrr"], bootstrap=False)
    return result.summary["mrr@100"]


@pytest.fixture(scope="module")
def popularity(data):
    return mrr("popular", data)


def test_every_registered_model_has_a_floor():
    assert set(FLOOR) | {"random"} == set(MODELS)  # random has a ceiling instead


@pytest.mark.parametrize("model_type", [t for t, x in FLOOR.items() if x is not None and t != "popular"])
def test_quality_floor(model_type, data, popularity):
    value = mrr(model_type, data)
    assert value >= FLOOR[model_type] * popularity, f"{model_type}: MRR@100 {value:.4f}, popularity {popularity:.4f}"


def test_popularity_beats_random_by_far(data, popularity):
    assert mrr("random", data) < RANDOM_CEILING * popularity


def test_rerank_beats_its_best_generator(data):
    generators = PARAMS["rerank"]["generators"]
    best = max(mrr(g["type"], data, g.get("params", {})) for g in generators)
    assert mrr("rerank", data) > 1.02 * best
