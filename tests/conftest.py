from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.cli.app import main

FIXTURES = Path(__file__).parent / "fixtures"
ML_LATEST_SMALL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A user's project folder: the working directory, holding the smoke config as smoke.yaml."""
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copy(Path(__file__).resolve().parents[1] / "configs" / "ci-smoke.yaml", tmp_path / "smoke.yaml")
    return tmp_path


@pytest.fixture(scope="module")
def smoke_project(tmp_path_factory) -> tuple[Path, Path]:
    """The CI smoke experiment run once for the module asking, in a project folder of its
    own: (project folder, run folder)."""
    import shutil

    from recsys_cli.run import run_experiment

    project = tmp_path_factory.mktemp("project")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        shutil.copy(Path(__file__).resolve().parents[1] / "configs" / "ci-smoke.yaml", project / "smoke.yaml")
        run = Path(run_experiment(project / "smoke.yaml", project / "runs")["path"])
    return project, run


@pytest.fixture
def cli(capsys):
    """Run `recsys ARGS...` in-process; returns exit code, stdout and stderr."""

    def run(*args) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def read_matrix(path: Path) -> sp.csr_matrix:
    return sp.load_npz(path).tocsr()


def read_events(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path / "events.parquet")


def dense(matrix) -> np.ndarray:
    return np.asarray(matrix.todense())


from store_project import tiny, tiny_base  # noqa: E402,F401 - the copied tiny project of the store tests


def pytest_collection_modifyitems(items):
    """The two-node Ray cluster tests run first: a driver process that already ran and shut down
    a local Ray cannot reliably reach another cluster afterwards (its objects' owner is reported
    dead), and each pytest process is one driver."""
    items.sort(key=lambda item: 0 if "test_ray_cluster.py" in item.nodeid else 1)


@pytest.fixture
def ozon_folder(tmp_path):
    """An Ozon e-commerce folder as published: orders, actions, product information (ids beyond int32)."""
    folder = tmp_path / "ozon"
    folder.mkdir()
    big = 2**33  # product ids beyond int32
    pl.DataFrame(
        {"user_id": [1, 1, 2], "product_id": [big, big + 1, big], "date": [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 1)]},
        schema={"user_id": pl.Int32, "product_id": pl.Int64, "date": pl.Date},
    ).write_parquet(folder / "train_orders")  # no extension, as published
    pl.DataFrame(
        {"user_id": [3], "product_id": [big + 1], "date": [date(2024, 7, 20)]},
        schema={"user_id": pl.Int32, "product_id": pl.Int64, "date": pl.Date},
    ).write_parquet(folder / "test_orders")
    pl.DataFrame(
        {
            "user_id": [1, 2, 2, 3, 3],
            "timestamp": [datetime(2024, 3, 20, 11, 4, 6)] * 5,
            "action_type": ["view", "to_cart", "search", "favorite", "view"],
            "widget_name": ["search_catalog_listing"] * 5,
            "search_query": [None, None, "печенье", None, None],
            "product_id": [float(big + 2), float(big + 2), None, float(big), float(big)],
            "page_product_id": [None] * 5,
        },
        schema_overrides={"user_id": pl.Int32, "page_product_id": pl.Float64, "search_query": pl.String},
    ).write_parquet(folder / "user_actions_full_sample")
    pl.DataFrame(
        {"product_id": [big, big + 1, big + 2], "name": ["CeraVe крем", "Сушилка", "Печенье"],
         "brand": ["CeraVe", "GFGRIL", None], "type": ["Гель", "Дегидратор", "Печенье"],
         "category_id": [38, 284, 1], "category_name": ["Сыворотки", "Сушилки", "Сладости"]},
    ).write_parquet(folder / "product_information_full")
    return folder
