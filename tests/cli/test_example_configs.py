"""Every experiment file in configs/ runs, so an example can never rot: on a debug slice of
generated data, each source in its own raw layout (`recsys generate`) at the path the
config reads, from a fresh project folder."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from recsys_cli.data.generators import LAYOUTS, layout_for

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
DEBUG_SLICE = [0.3, 0.3]  # the top 30% of items, a seeded 30% of users


def test_the_examples_are_found():
    assert {"quickstart.yaml", "ci-smoke.yaml", "ozon.yaml", "yandex-music.yaml"} <= {c.name for c in CONFIGS}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_example_config_runs_on_generated_data(cli, project, config):
    experiment = yaml.safe_load(config.read_text())
    dataset = experiment["dataset"]
    assert isinstance(dataset, dict), (
        f"{config.name}: an example ingests its data (a `dataset:` block), so it can run on a fresh machine")
    if dataset["format"] != "synthetic":
        twin = layout_for(dataset["format"], dataset["path"])
        assert twin is not None, (f"{config.name}: no generated layout reads {dataset['path']!r} as "
                                  f"{dataset['format']}; add one to LAYOUTS ({', '.join(LAYOUTS)})")
        generated = cli("generate", twin[0], "--out", twin[1], "--quiet")
        assert generated.code == 0, generated.err
    dataset.setdefault("debug_slice", DEBUG_SLICE)
    # One thread: on a busy machine LightGBM's all-core threads (the rerank example) spin against
    # each other (rerank's fit on this slice: 85 s with threads 0 against 24 s with 1, load average 10).
    experiment["threads"] = 1
    copy = project / config.name
    copy.write_text(yaml.safe_dump(experiment, sort_keys=False))

    result = cli("run", copy, "--runs-dir", project / "runs", "--quiet")

    assert result.code == 0, result.err
    metrics = pl.read_csv(project / "runs" / experiment["name"] / "latest" / "metrics.csv")
    assert metrics["model"].to_list() == [model["name"] for model in experiment["models"]]
