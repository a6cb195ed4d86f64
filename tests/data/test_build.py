"""Cleaning, filters, indexing, re-runs and crash safety of the dataset builder."""

from __future__ import annotations

import polars as pl
import pytest

from recsys_cli.stages import ingest as ingest_stage
from recsys_cli.data import dataset_writer
from recsys_cli.data.filters import IngestFilters, debug_slice, dedupe, min_count_filter
from recsys_cli.core.errors import InputError

from conftest import dense, read_matrix


def _events(rows):
    return pl.DataFrame(rows, schema=["user_id", "item_id", "weight", "timestamp"], orient="row",
                        schema_overrides={"weight": pl.Float32})


def test_min_count_filter_iterates_until_stable():
    # Pass 1 drops item c (1 event), leaving u2 with 1 event; pass 2 drops u2, leaving item b
    # with 1 event; pass 3 drops b. A chain only iteration resolves.
    events = _events([
        ("u1", "a", 1, None), ("u1", "b", 1, None), ("u1", "d", 1, None),
        ("u2", "b", 1, None), ("u2", "c", 1, None),
        ("u3", "a", 1, None), ("u3", "d", 1, None),
    ])
    kept, rounds = min_count_filter(events, min_user=2, min_item=2)
    assert sorted(zip(kept["user_id"], kept["item_id"])) == [("u1", "a"), ("u1", "d"), ("u3", "a"), ("u3", "d")]
    assert rounds == 3


def test_dedupe_keeps_earliest_time_and_largest_weight():
    events = _events([("u", "a", 1, 20), ("u", "a", 3, 10), ("u", "b", 1, 5)])
    out = dedupe(events).sort("item_id")
    assert out.rows() == [("u", "a", 3.0, 10), ("u", "b", 1.0, 5)]


def test_debug_slice_takes_top_items_and_a_seeded_user_sample():
    rows = [(u, "pop", 1, None) for u in range(10)] + [(u, f"rare{u}", 1, None) for u in range(10)]
    events = _events(rows)
    sliced = debug_slice(events, item_share=1 / 11, user_share=0.5, seed=3)
    assert set(sliced["item_id"]) == {"pop"}
    assert sliced.height == 5
    assert sliced.equals(debug_slice(events, item_share=1 / 11, user_share=0.5, seed=3))


def test_debug_slice_rejects_percent_written_as_whole_numbers():
    with pytest.raises(InputError, match="fractions"):
        IngestFilters(debug_slice=(3.0, 3.0))


def test_indices_follow_sorted_ids_and_matrix_sums_repeats(tmp_path):
    (tmp_path / "t.csv").write_text("user_id,item_id,weight,ts\nz,b,1,3\na,b,2,1\nz,b,4,2\nz,a,1,2\n")
    result = ingest_stage.ingest("table", tmp_path / "t.csv", tmp_path / "ds", {"weight": "weight", "time": "ts"})
    assert pl.read_parquet(tmp_path / "ds" / "users.parquet")["user_id"].to_list() == ["a", "z"]
    assert dense(read_matrix(tmp_path / "ds" / "matrix.npz")).tolist() == [[0, 2], [1, 5]]
    events = pl.read_parquet(tmp_path / "ds" / "events.parquet")
    assert events["timestamp"].to_list() == [1, 2, 2, 3]
    assert events.schema == pl.Schema({"user_idx": pl.Int32, "item_idx": pl.Int32, "weight": pl.Float32, "timestamp": pl.Int64})
    assert result.info["counts"]["events"] == 4 and result.info["counts"]["interactions"] == 3


def test_rerun_with_same_inputs_is_a_no_op_and_a_changed_source_rebuilds(tmp_path):
    source = tmp_path / "t.csv"
    source.write_text("user_id,item_id\n1,2\n1,3\n")
    first = ingest_stage.ingest("table", source, tmp_path / "ds")
    stamp = (tmp_path / "ds" / "matrix.npz").stat().st_mtime_ns
    again = ingest_stage.ingest("table", source, tmp_path / "ds")
    assert again.skipped and not first.skipped
    assert (tmp_path / "ds" / "matrix.npz").stat().st_mtime_ns == stamp
    source.write_text("user_id,item_id\n1,2\n1,3\n2,3\n")
    changed = ingest_stage.ingest("table", source, tmp_path / "ds")
    assert not changed.skipped and changed.info["counts"]["users"] == 2
    other_filters = ingest_stage.ingest("table", source, tmp_path / "ds", filters=IngestFilters(min_item_interactions=2))
    assert not other_filters.skipped and other_filters.info["counts"]["items"] == 1


def test_a_crash_while_writing_leaves_the_previous_dataset_untouched(tmp_path, monkeypatch):
    source = tmp_path / "t.csv"
    source.write_text("user_id,item_id\n1,2\n")
    ingest_stage.ingest("table", source, tmp_path / "ds")
    before = sorted(p.name for p in tmp_path.iterdir())
    source.write_text("user_id,item_id\n1,2\n5,6\n")

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset_writer, "write_npz", explode)  # the one dataset-folder writer
    with pytest.raises(KeyboardInterrupt):
        ingest_stage.ingest("table", source, tmp_path / "ds")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary folder left
    assert read_matrix(tmp_path / "ds" / "matrix.npz").shape == (1, 1)


def test_filters_that_remove_everything_are_bad_input(cli, tmp_path):
    (tmp_path / "t.csv").write_text("user_id,item_id\n1,2\n")
    result = cli("ingest", "table", tmp_path / "t.csv", "--out", tmp_path / "ds", "--min-user-interactions", "5")
    assert result.code == 2 and "no interactions left" in result.err
    assert not (tmp_path / "ds").exists()
