"""The yambda format and the streaming pair builder (data/streaming.py), on hand-made logs."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from conftest import read_events, read_matrix


def _ingest(cli, *args):
    result = cli("ingest", *args, "--quiet")
    assert result.code == 0, result.err
    return result


@pytest.fixture
def yambda_folder(tmp_path):
    """A flat/50m-like folder. Timestamps are in Yambda's 5-second units."""
    root = tmp_path / "yambda"
    folder = root / "flat" / "50m"
    folder.mkdir(parents=True)
    u32 = pl.UInt32
    pl.DataFrame({
        "uid": [1, 1, 1, 2, 2], "item_id": [10, 10, 20, 10, 30], "timestamp": [100, 200, 300, 400, 500],
        "is_organic": [1, 0, 1, 1, 0], "played_ratio_pct": [100, 30, 80, 10, 90],
        "track_length_seconds": [180] * 5,
    }, schema_overrides={"uid": u32, "item_id": u32, "timestamp": u32, "is_organic": pl.UInt8,
                         "played_ratio_pct": pl.UInt16, "track_length_seconds": u32}
    ).write_parquet(folder / "listens.parquet")
    pl.DataFrame({"uid": [1, 2], "item_id": [20, 10], "timestamp": [600, 150], "is_organic": [1, 1]},
                 schema_overrides={"uid": u32, "item_id": u32, "timestamp": u32, "is_organic": pl.UInt8}
                 ).write_parquet(folder / "likes.parquet")
    pl.DataFrame({"uid": [2], "item_id": [30], "timestamp": [700], "is_organic": [0]},
                 schema_overrides={"uid": u32, "item_id": u32, "timestamp": u32, "is_organic": pl.UInt8}
                 ).write_parquet(folder / "dislikes.parquet")
    pl.DataFrame({"item_id": [10, 20, 30, 10], "artist_id": [7, 8, 8, 9]}).write_parquet(
        root / "artist_item_mapping.parquet")
    return folder


def _pairs(out) -> dict[tuple, tuple]:
    """{(uid, item_id): (weight, events, first seconds, last seconds)} from events.parquet."""
    users = pl.read_parquet(out / "users.parquet")["user_id"].to_list()
    items = pl.read_parquet(out / "items.parquet")["item_id"].to_list()
    return {(users[r["user_idx"]], items[r["item_idx"]]): (r["weight"], r["events"], r["timestamp"], r["last_timestamp"])
            for r in read_events(out).iter_rows(named=True)}


class TestYambda:
    def test_listens_and_likes_become_pairs_with_counts_and_first_last_times(self, cli, yambda_folder, tmp_path):
        out = tmp_path / "ds"
        _ingest(cli, "yambda", yambda_folder, "--out", out)
        assert _pairs(out) == {
            (1, 10): (2.0, 2, 500, 1000), (1, 20): (2.0, 2, 1500, 3000),
            (2, 10): (2.0, 2, 750, 2000), (2, 30): (1.0, 1, 2500, 2500),
        }
        matrix = read_matrix(out / "matrix.npz")
        assert matrix.nnz == 4 and matrix.sum() == 7
        info = json.loads((out / "dataset.json").read_text())
        assert info["events_table"] == "pairs"
        assert info["counts"]["events"] == 7 and info["counts"]["source_rows"] == 7
        assert info["time_range"] == [500, 3000]
        events = read_events(out)  # sorted by first time
        assert events["timestamp"].to_list() == sorted(events["timestamp"].to_list())
        artists = dict(pl.read_parquet(out / "items.parquet").select("item_id", "artists").iter_rows())
        assert artists == {10: ["7", "9"], 20: ["8"], 30: ["8"]}

    def test_dislikes_remove_the_pair(self, cli, yambda_folder, tmp_path):
        _ingest(cli, "yambda", yambda_folder, "--out", tmp_path / "ds", "--include", "listens",
                "--include", "likes", "--include", "dislikes")
        assert set(_pairs(tmp_path / "ds")) == {(1, 10), (1, 20), (2, 10)}

    def test_organic_only(self, cli, yambda_folder, tmp_path):
        _ingest(cli, "yambda", yambda_folder, "--out", tmp_path / "ds", "--organic-only")
        pairs = _pairs(tmp_path / "ds")
        assert {k: v[1] for k, v in pairs.items()} == {(1, 10): 1, (1, 20): 2, (2, 10): 2}

    def test_listen_counts_as_a_like_from_a_played_ratio(self, cli, yambda_folder, tmp_path):
        _ingest(cli, "yambda", yambda_folder, "--out", tmp_path / "ds", "--listen-ratio", "50")
        pairs = _pairs(tmp_path / "ds")
        assert {k: v[1] for k, v in pairs.items()} == {(1, 10): 1, (1, 20): 2, (2, 10): 1, (2, 30): 1}
        assert pairs[(2, 10)][2] == 750  # the like at 150 units; the 10% listen is not counted

    def test_min_count_filters_count_events_not_pairs(self, cli, yambda_folder, tmp_path):
        # user 2 has 3 events over 2 pairs; item 30 has 1 event
        _ingest(cli, "yambda", yambda_folder, "--out", tmp_path / "ds", "--min-item-interactions", "2")
        assert set(_pairs(tmp_path / "ds")) == {(1, 10), (1, 20), (2, 10)}

    def test_global_temporal_split(self, cli, yambda_folder, tmp_path):
        out = tmp_path / "ds"
        _ingest(cli, "yambda", yambda_folder, "--out", out)
        result = cli("split", out, "--strategy", "temporal", "--test-ratio", "0.25", "--out", tmp_path / "s", "--quiet")
        assert result.code == 0, result.err
        test = read_matrix(tmp_path / "s" / "test.npz")
        users = pl.read_parquet(out / "users.parquet")["user_id"].to_list()
        items = pl.read_parquet(out / "items.parquet")["item_id"].to_list()
        coo = test.tocoo()
        assert [(users[u], items[i]) for u, i in zip(coo.row, coo.col)] == [(2, 30)]  # first met last

    @pytest.mark.parametrize("args, message", [
        (["--include", "dislikes"], "dislikes alone"),
        (["--include", "skips"], "expected some of listens, likes, dislikes"),
    ])
    def test_bad_options_exit_2(self, cli, yambda_folder, tmp_path, args, message):
        result = cli("ingest", "yambda", yambda_folder, "--out", tmp_path / "ds", *args)
        assert result.code == 2 and message in result.err
        assert not (tmp_path / "ds").exists()

    def test_missing_column_names_the_file(self, cli, yambda_folder, tmp_path):
        pl.DataFrame({"uid": [1], "item_id": [2], "timestamp": [3]}).write_parquet(yambda_folder / "likes.parquet")
        result = cli("ingest", "yambda", yambda_folder, "--out", tmp_path / "ds")
        assert result.code == 2 and "likes.parquet" in result.err and "is_organic" in result.err


def test_aggregate_on_a_per_event_log_gives_the_same_matrix_and_temporal_split(cli, tmp_path):
    rng = np.random.default_rng(3)
    n = 3_000
    log = pl.DataFrame({"user": rng.integers(0, 80, n), "item": rng.integers(0, 60, n),
                        "ts": rng.integers(0, 10**6, n)})
    log.write_csv(tmp_path / "log.csv")
    for name, extra in (("events", []), ("pairs", ["--aggregate"])):
        _ingest(cli, "table", tmp_path / "log.csv", "--user", "user", "--item", "item", "--time", "ts",
                "--out", tmp_path / name, "--min-user-interactions", "5", *extra)
        assert cli("split", tmp_path / name, "--strategy", "temporal", "--test-ratio", "0.2",
                   "--out", tmp_path / f"{name}-split", "--quiet").code == 0
    assert (read_matrix(tmp_path / "events" / "matrix.npz") != read_matrix(tmp_path / "pairs" / "matrix.npz")).nnz == 0
    parts = sorted(p.name for p in (tmp_path / "events-split").glob("*.npz"))
    assert parts == sorted(p.name for p in (tmp_path / "pairs-split").glob("*.npz"))
    for part in (p.removesuffix(".npz") for p in parts):
        a, b = (read_matrix(tmp_path / f"{name}-split" / f"{part}.npz") for name in ("events", "pairs"))
        assert (a != b).nnz == 0, part
    assert read_events(tmp_path / "pairs").height < read_events(tmp_path / "events").height


def test_a_pair_log_without_source_files_names_its_format_when_it_is_bad(tmp_path):
    """A generated log (no files) that streams bad weights: the message names the format."""
    import polars as pl

    from recsys_cli.data.build import build_dataset
    from recsys_cli.data.dataset_writer import Recipe
    from recsys_cli.data.filters import IngestFilters
    from recsys_cli.data.tables import SourceTables
    from recsys_cli.core.errors import InputError

    events = pl.LazyFrame({"user_id": ["a"], "item_id": ["x"], "weight": [float("nan")], "timestamp": [1]})
    tables = SourceTables(events=events, items=None, files=[], aggregate=True)
    with pytest.raises(InputError, match="generated"):
        build_dataset(tables, tmp_path / "ds", Recipe("generated", {}, IngestFilters(), []))
