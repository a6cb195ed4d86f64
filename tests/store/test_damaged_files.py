"""Errors name what broke: every damaged or unreadable file a run holds (a truncated, empty or
garbage state.npz, a half-written params.json, manifest.json, metrics.json or config.yaml, a
flipped byte in a saved model) ends in exit 2 naming the run, the model, the path and what to
do, never `internal error`; ids of the wrong type in a metadata file name the file and the
column; a download without network is an environment failure (exit 1); a missing archive
says which `recsys download` fetches it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from store_project import flip_byte, latest_run, truncate


def _garbage_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    at = data.index(b"{'descr'")
    data[at + 2:at + 7] = b"XXXXX"
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated state.npz": ("models/ials/state.npz", truncate),
    "empty state.npz": ("models/ials/state.npz", lambda p: truncate(p, keep=0)),
    "garbage npy header": ("models/ials/state.npz", _garbage_header),
    "flipped byte in state.npz": ("models/ials/state.npz", flip_byte),
    "missing state.npz": ("models/ials/state.npz", lambda p: p.unlink()),
    "half-written params.json": ("models/ials/params.json", truncate),
    "half-written manifest.json": ("manifest.json", truncate),
    "half-written metrics.json": ("metrics.json", truncate),
    "garbage config.yaml": ("config.yaml", lambda p: p.write_text("models: [\n")),
}


def _user(run: Path) -> str:
    import json

    dataset = json.loads((run / "manifest.json").read_text())["stages"]["ingest"]["dataset"]
    return str(pl.read_parquet(Path(dataset) / "users.parquet")["user_id"][0])


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_file_is_named_with_what_to_do(cli, tiny, damage):
    run = latest_run(tiny)
    user = _user(run)
    relative, spoil = DAMAGE[damage]
    spoil(run / relative)
    for args in (["recommend", run, "--user", user, "-m", "ials", "-k", "3"],
                 ["similar", run, "--item", "1", "-m", "ials", "-k", "3"],
                 ["compare", run, "--model", "ials", "--model", "i2i", "--anchors", "3", "--k", "3"]):
        result = cli(*args)
        if relative == "config.yaml" and args[0] != "compare":
            # The query verbs find the dataset and split in the manifest and never read the
            # config: a file not read cannot mislead them, and they answer.
            assert result.code == 0, (args, result.err)
            continue
        assert result.code == 2, (args, result.err)
        assert "internal error" not in result.err
        assert str(run / relative) in result.err and "recsys runs verify" in result.err, result.err
        if relative.startswith("models/"):
            assert "'ials'" in result.err and run.name in result.err


@pytest.mark.parametrize("record", ["manifest.json", "metrics.json"])
def test_runs_show_and_diff_name_a_half_written_record(cli, tiny, record):
    run = latest_run(tiny)
    truncate(run / record)
    for args in (["runs", "show", "tiny"], ["runs", "diff", "tiny", "tiny"]):
        result = cli(*args)
        assert result.code == 2 and str(run / record) in result.err and "internal error" not in result.err
    listed = cli("runs", "list", "--json").json()
    assert [row["status"] for row in listed if row["path"] == str(run)] == ["damaged"]


def _music(folder: Path, items: pl.DataFrame) -> Path:
    folder.mkdir()
    pl.DataFrame({"user_id": [1, 2, 2], "item_id": [10, 10, 11],
                  "started_at": [datetime(2024, 1, day) for day in (1, 2, 3)]}).write_parquet(folder / "events.parquet")
    items.write_parquet(folder / "items.parquet")
    return folder


@pytest.mark.parametrize("fmt, make, file, column", [
    ("yandex-music", lambda f: _music(f, pl.DataFrame({"item_id": ["10", "abc"], "name": ["a", "b"]})),
     "items.parquet", "item_id"),
    ("yandex-music", lambda f: _music(f, pl.DataFrame({"item_id": [10], "name": ["a"]})) and pl.DataFrame(
        {"user_id": ["1", "u2"], "item_id": [10, 10], "started_at": [datetime(2024, 1, 1)] * 2}).write_parquet(
        f / "events.parquet"), "events.parquet", "user_id"),
])
def test_music_ids_of_the_wrong_type_name_the_file_and_column(cli, tmp_path, fmt, make, file, column):
    folder = tmp_path / "music"
    make(folder)
    result = cli("ingest", fmt, folder, "--out", tmp_path / "ds")
    assert result.code == 2 and str(folder / file) in result.err and repr(column) in result.err, result.err
    assert "internal error" not in result.err


@pytest.mark.parametrize("file, column, frame", [
    ("product_information_full", "product_id", pl.DataFrame({"product_id": ["7", "x1"], "name": ["a", "b"]})),
    ("train_orders", "product_id", pl.DataFrame({"user_id": [1, 2], "product_id": ["7", "x1"],
                                                 "date": [datetime(2024, 1, 1)] * 2})),
])
def test_ozon_ids_of_the_wrong_type_name_the_file_and_column(cli, tmp_path, file, column, frame):
    folder = tmp_path / "ozon"
    folder.mkdir()
    pl.DataFrame({"user_id": [1, 2], "product_id": [7, 7], "date": [datetime(2024, 1, 1)] * 2}).write_parquet(
        folder / "train_orders")
    frame.write_parquet(folder / file)
    result = cli("ingest", "ozon", folder, "--out", tmp_path / "ds")
    assert result.code == 2 and str(folder / file) in result.err and repr(column) in result.err, result.err
    assert "'x1'" in result.err and "internal error" not in result.err


def test_download_without_network_is_exit_1_and_a_missing_archive_says_how_to_fetch_it(cli, tmp_path, monkeypatch):
    result = cli("download", "movielens-1m", "--dir", tmp_path, "--base-url", "http://127.0.0.1:9", "-q")
    assert result.code == 1 and "could not connect" in result.err
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ml.yaml").write_text("""name: ml
dataset: {format: movielens, path: data/raw/ml-1m.zip, out: data/ml-1m, min_rating: 4}
split: {strategy: leave-one-random, test_users: 0.2}
models: [{name: pop, type: popular}]
""")
    result = cli("run", "ml.yaml")
    assert result.code == 2 and "ml-1m.zip" in result.err and "recsys download movielens-1m" in result.err
