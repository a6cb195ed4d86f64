"""A nightly project's pieces (a listening log with planted tastes, an experiment file with a
gate) shared by the gate tests and the unchanged-re-run tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import yaml

DAY = 86400
START = 1_700_000_000


def write_plays(path: Path, days: int, users: int = 300, items: int = 120, seed: int = 0) -> None:
    """A listening log with planted tastes: each user likes a few item clusters; one row per
    (user, item) on a day between 0 and `days`."""
    rng = np.random.default_rng(seed)
    taste = rng.integers(0, 6, size=users)
    rows = []
    for day in range(days):
        active = rng.choice(users, size=users // 3, replace=False)
        cluster_items = (taste[active, None] * (items // 6) + rng.integers(0, items // 6, size=(len(active), 4)))
        noise = rng.integers(0, items, size=(len(active), 1))
        picks = np.concatenate([cluster_items, noise], axis=1)
        for user, chosen in zip(active, picks):
            for item in chosen:
                rows.append((f"u{user}", f"i{item}", START + day * DAY + int(rng.integers(0, DAY))))
    frame = pl.DataFrame(rows, schema=["user", "item", "ts"], orient="row").unique(["user", "item"], keep="first")
    frame.sort("ts").write_csv(path)


def experiment(project: Path, name: str = "nightly", iterations: int = 10, gate: list[str] | None = None,
               split: dict | None = None, source: str = "plays.csv") -> Path:
    config = {
        "name": name,
        "dataset": {"format": "table", "path": source, "user": "user", "item": "item", "time": "ts",
                    "out": f"data/{name}"},
        "split": split or {"strategy": "temporal", "last": "3d", "seed": 1},
        "models": [{"name": "pop", "type": "popular"},
                   {"name": "ials", "type": "ials", "params": {"factors": 16, "iterations": iterations}}],
        "metrics": {"k": [10, 100], "names": ["mrr", "ndcg", "coverage"]},
        "export": {"recommendations": 10},
        "gate": gate if gate is not None else ["ials.mrr@100 >= baseline - 0.005", "pop.mrr@100 >= 0.0001",
                                               "interactions >= 0.7 * baseline"],
        "seed": 3, "threads": 1,
    }
    path = project / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def manifest(project: Path, name: str = "nightly", link: str = "latest") -> dict:
    return json.loads((project / "runs" / name / link / "manifest.json").read_text())
