"""The worked examples of docs/architecture.md ("Add a model", "Add a source format") are run
as written, through the registries, so the recipes cannot rot."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def recipe_module(name: str, monkeypatch) -> str:
    """The python block after `<!-- recipe: NAME -->`, imported as a module; its name."""
    text = ARCHITECTURE.read_text()
    found = re.search(rf"<!-- recipe: {name} -->\n```python\n(.*?)\n```", text, re.DOTALL)
    assert found, f"docs/architecture.md has no `{name}` recipe"
    module_name = f"recsys_docs_recipe_{name}"
    module = types.ModuleType(module_name)
    exec(compile(found.group(1), f"docs/architecture.md ({name} recipe)", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module_name, module)
    return module_name


def test_the_model_recipe_works_through_the_registry(monkeypatch, tmp_path):
    from recsys_cli.models import registry

    module = recipe_module("model", monkeypatch)
    monkeypatch.setitem(registry.MODELS, "weighted-popular", f"{module}:WeightedPopular")
    train = sp.csr_matrix(np.array([[3, 0, 1, 0], [1, 0, 0, 0], [0, 2, 0, 0]], dtype=np.float32))

    model = registry.build_model("weighted-popular", {"exponent": 1.0}).fit(train)
    items, scores = model.recommend(np.array([0, 1, 2]), train, k=2)
    # summed weights: item 0: 4, item 1: 2, item 2: 1, item 3: 0; seen items filtered
    assert items.tolist() == [[1, 3], [1, 2], [0, 2]]
    assert scores[2].tolist() == [4.0, 1.0]

    model.save(tmp_path / "m")
    loaded = registry.load_model("weighted-popular", tmp_path / "m")
    assert loaded.params.exponent == 1.0 and np.array_equal(loaded.recommend(np.array([0]), train, 2)[0], items[:1])
    with pytest.raises(ValueError):
        registry.build_model("weighted-popular", {"exponent": 3.0})  # outside the declared range


def test_the_format_recipe_ingests_through_the_registry(monkeypatch, tmp_path):
    from recsys_cli.data import sources
    from recsys_cli.stages import ingest as ingest_stage

    module = recipe_module("format", monkeypatch)
    monkeypatch.setitem(sources.FORMATS, "lastfm", module)
    plays = tmp_path / "usersha1-artmbid-artname-plays.tsv"
    plays.write_text("u1\ta1\tBetty Blowtorch\t2137\nu1\ta2\tDie Ärzte\t1099\nu2\ta1\tBetty Blowtorch\t5\n")

    result = ingest_stage.ingest("lastfm", plays, tmp_path / "ds")

    matrix = sp.load_npz(result.path / "matrix.npz").toarray()
    assert matrix.tolist() == [[2137.0, 1099.0], [5.0, 0.0]]
    assert pl.read_parquet(result.path / "items.parquet")["name"].to_list() == ["Betty Blowtorch", "Die Ärzte"]
