"""A ranked export written a batch of anchors at a time is the table built whole."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_cli.report import tables
from recsys_cli.report.tables import ranked_frame, with_item_names, write_ranked


@pytest.mark.parametrize("rows_per_batch", [1, 7, 1 << 18])
def test_batches_write_the_whole_table(tmp_path, monkeypatch, rows_per_batch):
    monkeypatch.setattr(tables, "EXPORT_ROWS_PER_BATCH", rows_per_batch)
    rng = np.random.default_rng(0)
    anchors = np.arange(10, dtype=np.int32)
    ids = rng.integers(0, 20, (10, 3)).astype(np.int32)
    scores = rng.random((10, 3)).astype(np.float32)
    scores[2, 1:] = -np.inf  # a short list: its filler is dropped
    items = pl.DataFrame({"item_idx": np.arange(20), "item_id": [f"i{i}" for i in range(20)],
                          "name": [f"n{i}" for i in range(20)]})
    users, item_ids = np.array([f"u{i}" for i in range(10)]), items["item_id"]
    write_ranked(tmp_path / "ranked.parquet", anchors, ids, scores, left="user_id", right="item_id",
                 left_ids=users, right_ids=item_ids, items=items, names=[("item_id", "name")])
    whole = with_item_names(ranked_frame("user_id", "item_id", anchors, ids, scores, users, item_ids), items,
                            "item_id", "name")
    written = pl.read_parquet(tmp_path / "ranked.parquet")
    assert written.equals(whole) and written.height == 28


def test_no_anchors_write_an_empty_table_with_its_columns(tmp_path):
    items = pl.DataFrame({"item_idx": [0], "item_id": ["i0"], "name": ["n0"]})
    write_ranked(tmp_path / "empty.parquet", np.empty(0, np.int32), np.empty((0, 3), np.int32),
                 np.empty((0, 3), np.float32), left="user_id", right="item_id", left_ids=np.array([], dtype=str),
                 right_ids=items["item_id"], items=items, names=[("item_id", "name")])
    assert pl.read_parquet(tmp_path / "empty.parquet").columns == ["user_id", "item_id", "name", "rank", "score"]
