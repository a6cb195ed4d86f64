"""Params classes built on first use, and saved parameters read without them (models/params.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.core.errors import DamagedFile
from recsys_cli.models.ease import EASE
from recsys_cli.models.params import SavedParams
from recsys_cli.models.registry import MODELS, model_class
from recsys_cli.models.rerank import Rerank


def test_importing_every_model_module_builds_no_params_class():
    code = ("import sys\nfrom recsys_cli.models.registry import MODELS, model_class\n"
            "classes = [model_class(t) for t in MODELS]\nprint('pydantic' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("model_type", MODELS)
def test_each_models_params_class_is_built_once_and_validates(model_type):
    from pydantic import BaseModel

    cls = model_class(model_type)
    assert cls.Params is cls.Params and issubclass(cls.Params, BaseModel)
    assert cls.Params.model_validate({}).model_dump() == cls().params.model_dump()


def test_saved_scalars_are_read_as_stored_and_the_rest_from_validation():
    saved = SavedParams({"holdout": 0.3, "generators": [{"type": "ease", "candidates": 7}]}, lambda: Rerank.Params)
    assert saved.holdout == 0.3 and saved._validated is None  # a scalar needs no validation
    assert saved.generators[0].type == "ease" and saved.generators[0].candidates == 7  # a nested spec is validated
    assert saved.n_estimators == Rerank.Params.model_fields["n_estimators"].default  # a name not saved: its default
    assert saved.model_dump() == Rerank.Params.model_validate(saved._values).model_dump()


def _saved_ease(tmp_path):
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 1], [0, 0, 1, 1]], dtype=np.float32))
    model = EASE({"l2": 2.0}).fit(train)
    model.save(tmp_path / "ease")
    return model, train


def test_a_checked_model_answers_as_a_validated_one(tmp_path):
    model, train = _saved_ease(tmp_path)
    checked = EASE.load(tmp_path / "ease", checked=True)
    validated = EASE.load(tmp_path / "ease")
    assert isinstance(checked.params, SavedParams) and checked.params.l2 == 2.0
    users = np.arange(4, dtype=np.int32)
    for loaded in (checked, validated):
        ids, scores = loaded.recommend(users, train, 2)
        expected_ids, expected_scores = model.recommend(users, train, 2)
        assert np.array_equal(ids, expected_ids) and np.allclose(scores, expected_scores)


def test_unchecked_parameters_out_of_range_are_a_damaged_file(tmp_path):
    _saved_ease(tmp_path)
    meta_path = tmp_path / "ease" / "params.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "params": {"l2": -1}}))
    with pytest.raises(DamagedFile, match="params.json"):
        EASE.load(tmp_path / "ease")
