"""The bad-input corpus: generated hostile files, each a parametrised case run through the CLI.

Every case must end with its exit code (2 for bad input) and a message naming the file (and
the place, where there is one), never a traceback, and must leave no output folder and no
temporary sibling behind. Classes: ingest values, ids, npz matrices, archives and
compression, output targets, experiment files, splits.
"""

from __future__ import annotations

import gzip
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import FIXTURES


def _csv(text: str, name: str = "plays.csv"):
    def make(tmp: Path) -> list:
        (tmp / name).write_text(text)
        return ["ingest", "table", tmp / name, "--weight", "w", "--out", tmp / "out"]
    return make


def _csv_time(text: str):
    def make(tmp: Path) -> list:
        (tmp / "plays.csv").write_text(text)
        return ["ingest", "table", tmp / "plays.csv", "--time", "t", "--out", tmp / "out"]
    return make


def _parquet(columns: dict, **options):
    def make(tmp: Path) -> list:
        pl.DataFrame(columns).write_parquet(tmp / "plays.parquet")
        extra = [a for k, v in options.items() for a in (f"--{k}", v)]
        return ["ingest", "table", tmp / "plays.parquet", *extra, "--out", tmp / "out"]
    return make


def _npz_arrays(**arrays):
    def make(tmp: Path) -> list:
        np.savez(tmp / "m.npz", **arrays)
        return ["ingest", "npz", tmp / "m.npz", "--out", tmp / "out"]
    return make


def _npz_bytes(content: bytes):
    def make(tmp: Path) -> list:
        (tmp / "m.npz").write_bytes(content)
        return ["ingest", "npz", tmp / "m.npz", "--out", tmp / "out"]
    return make


def _csr(data, indices, indptr, shape=(2, 3)):
    return _npz_arrays(format=np.array(b"csr"), shape=np.array(shape), data=np.array(data, dtype=np.float32),
                       indices=np.array(indices, dtype=np.int32), indptr=np.array(indptr, dtype=np.int32))


def _good_npz_bytes() -> bytes:
    import scipy.sparse as sp

    buffer = io.BytesIO()
    sp.save_npz(buffer, sp.csr_matrix(np.eye(4, dtype=np.float32)))
    return buffer.getvalue()


def _movielens_zip(mangle):
    def make(tmp: Path) -> list:
        path = tmp / "ml.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            mangle(zf)
        return ["ingest", "movielens", path, "--out", tmp / "out"]
    return make


def _corrupt_crc(tmp_unused=None):
    def make(tmp: Path) -> list:
        path = tmp / "ml.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            zf.write(FIXTURES / "ml-latest" / "ratings.csv", "ml/ratings.csv")
        raw = bytearray(path.read_bytes())
        offset = raw.index(b"userId") + 20  # inside the stored member's data
        raw[offset] ^= 0xFF
        path.write_bytes(bytes(raw))
        return ["ingest", "movielens", path, "--out", tmp / "out"]
    return make


def _zip_bomb(tmp_unused=None):
    def mangle(zf):
        header = b"userId,movieId,rating,timestamp\n"
        zf.writestr("ml/ratings.csv", header + b"0" * (80 << 20))
    return _movielens_zip(mangle)


def _gzip_bomb_inside_zip(tmp_unused=None):
    """A zip member that is itself a gzip bomb: the member is small, its content is not."""
    def mangle(zf):
        header = b"userId,movieId,rating,timestamp\n"
        zf.writestr("ml/ratings.csv", gzip.compress(header + b"0" * (80 << 20), compresslevel=1),
                    compress_type=zipfile.ZIP_STORED)
    return _movielens_zip(mangle)


def _gzip_bomb(tmp: Path) -> list:
    path = tmp / "plays.csv"
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(b"user_id,item_id\n")
        for _ in range(80):
            handle.write(b"\0" * (1 << 20))
    return ["ingest", "table", path, "--out", tmp / "out"]


def _zstd_bomb(tmp: Path) -> list:
    import zstandard

    path = tmp / "plays.csv.zst"
    with open(path, "wb") as raw, zstandard.ZstdCompressor().stream_writer(raw) as handle:
        handle.write(b"user_id,item_id\n")
        for _ in range(80):
            handle.write(b"0" * (1 << 20))
    return ["ingest", "table", path, "--out", tmp / "out"]


def _zstd_corrupt(tmp: Path) -> list:
    import zstandard

    packed = bytearray(zstandard.ZstdCompressor().compress(b"user_id,item_id\n" + b"1,2\n" * 10_000))
    packed[20:40] = b"\xff" * 20
    path = tmp / "plays.csv.zst"
    path.write_bytes(bytes(packed))
    return ["ingest", "table", path, "--out", tmp / "out"]


def _compressed_with(module: str):
    """A good table compressed with bz2 or lzma, which polars cannot read."""
    def make(tmp: Path) -> list:
        import importlib

        path = tmp / "plays.csv"
        path.write_bytes(importlib.import_module(module).compress(b"user_id,item_id\n1,2\n3,4\n"))
        return ["ingest", "table", path, "--out", tmp / "out"]
    return make


def _dzen_infinite(tmp: Path) -> list:
    shutil.copytree(FIXTURES / "dzen-dict", tmp / "zen")
    ratings = tmp / "zen" / "zen_dataset" / "user_ratings.csv"
    ratings.write_text(ratings.read_text().replace("'5': 1", "'5': 1e999", 1))
    return ["ingest", "dzen", tmp / "zen", "--out", tmp / "out"]


def _u_data_nan(tmp: Path) -> list:
    shutil.copytree(FIXTURES / "ml-100k", tmp / "ml")
    lines = (tmp / "ml" / "u.data").read_text().splitlines()
    user, item, _, ts = lines[2].split("\t")
    lines[2] = "\t".join([user, item, "nan", ts])
    (tmp / "ml" / "u.data").write_text("\n".join(lines) + "\n")
    return ["ingest", "movielens", tmp / "ml", "--out", tmp / "out"]


def _synthetic_into(setup):
    def make(tmp: Path) -> list:
        target = setup(tmp)
        return ["ingest", "synthetic", "--out", target]
    return make


def _foreign_folder(tmp: Path) -> Path:
    (tmp / "out").mkdir()
    (tmp / "out" / "thesis.tex").write_text("years of work")
    return tmp / "out"


def _regular_file(tmp: Path) -> Path:
    (tmp / "out").write_text("not a folder")
    return tmp / "out"


def _source_as_out(tmp: Path) -> list:
    shutil.copytree(FIXTURES / "ml-100k", tmp / "ml")
    return ["ingest", "movielens", tmp / "ml", "--out", tmp / "ml"]


def _split_into_dataset(tmp: Path) -> list:
    from recsys_cli.cli.app import main

    assert main(["ingest", "synthetic", "--out", str(tmp / "ds"), "--quiet"]) == 0
    return ["split", tmp / "ds", "--strategy", "leave-one-random", "--out", tmp / "ds"]


def _temporal_train_empty(tmp: Path) -> list:
    from recsys_cli.cli.app import main

    assert main(["ingest", "synthetic", "--out", str(tmp / "ds"), "--quiet"]) == 0
    return ["split", tmp / "ds", "--strategy", "temporal", "--before", "1990-01-01", "--out", tmp / "out"]


def _config(text: str | bytes, name: str = "exp.yaml"):
    def make(tmp: Path) -> list:
        path = tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["run", path, "--runs-dir", tmp / "runs"]
    return make


BASE = """name: x
dataset: {format: synthetic, preset: small, out: DATA}
split: {strategy: leave-one-random, test_users: 0.2}
models:
  - {name: pop, type: popular}
"""


def _base(tmp_text: str = "", **replace) -> str:
    text = BASE + tmp_text
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def _billion_laughs() -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nname: *l8\n"


def _config_folder(tmp: Path) -> list:
    (tmp / "exp.yaml").mkdir()
    return ["run", tmp / "exp.yaml", "--runs-dir", tmp / "runs"]


# (class, id, make(tmp) -> argv, exit code, text the message must contain)
CASES = [
    # values: weights and times, named by file, row and column
    ("values", "weight-not-a-number", _csv("user_id,item_id,w\n1,1,1\n2,1,abc\n"), 2, "row 2, column 'w'"),
    ("values", "weight-nan", _csv("user_id,item_id,w\n1,1,1\n2,1,nan\n"), 2, "row 2, column weight"),
    ("values", "weight-inf", _csv("user_id,item_id,w\n1,1,inf\n"), 2, "row 1, column weight"),
    ("values", "weight-1e999", _csv("user_id,item_id,w\n1,1,1\n1,2,1e999\n"), 2, "row 2"),
    ("values", "weight-negative", _csv("user_id,item_id,w\n1,1,-2\n"), 2, "-2.0 is not a finite number"),
    ("values", "weight-missing", _csv("user_id,item_id,w\n1,1,\n"), 2, "missing"),
    ("values", "time-unparseable", _csv_time("user_id,item_id,t\n1,1,2022-01-01\n2,1,yesterday\n"), 2,
     "row 2, column 't'"),
    ("values", "parquet-weight-strings", _parquet({"user_id": [1], "item_id": [1], "w": ["x"]}, weight="w"), 2,
     "column 'w'"),
    ("values", "parquet-weight-nan", _parquet({"user_id": [1, 2], "item_id": [1, 1], "w": [1.0, float("nan")]},
                                              weight="w"), 2, "row 2"),
    ("values", "dzen-1e999", _dzen_infinite, 2, "user_ratings.csv"),
    ("values", "movielens-u.data-nan", _u_data_nan, 2, "u.data"),
    ("values", "missing-column", _csv("user,item_id,w\n1,1,1\n"), 2, "missing column"),
    ("values", "header-only", _csv("user_id,item_id,w\n"), 2, "no data rows"),
    ("values", "empty-file", _csv(""), 2, "plays.csv"),
    ("values", "action-weight-nan", lambda tmp: ["ingest", "ozon", tmp, "--action-weight", "view=nan",
                                                 "--out", tmp / "out"], 2, "finite"),
    # ids: exact, scalar
    ("ids", "list-ids", _parquet({"user_id": [[1], [2]], "item_id": [1, 2]}), 2, "not lists"),
    ("ids", "float-ids-fractional", _parquet({"user_id": [1.5, 2.0], "item_id": [1, 2]}), 2, "not a whole number"),
    ("ids", "nan-id", _parquet({"user_id": [1.0, float("nan")], "item_id": [1, 2]}), 2, "not a whole number"),
    ("ids", "ids-over-2^63", _csv("user_id,item_id,w\n18446744073709551615,1,1\n1,1,1\n"), 0, "dataset written"),
    ("ids", "leading-zeros", _csv("user_id,item_id,w\n007,1,1\n7,1,1\n"), 0, "dataset written"),
    # npz: full CSR check
    ("npz", "indptr-decreasing", _csr([1, 1], [0, 1], [0, 5, 2]), 2, "m.npz"),
    ("npz", "indptr-wrong-length", _csr([1, 1], [0, 1], [0, 2]), 2, "indptr has 2 entries"),
    ("npz", "index-out-of-range", _csr([1, 1], [0, 7], [0, 1, 2]), 2, "column index 7"),
    ("npz", "negative-index", _csr([1, 1], [0, -1], [0, 1, 2]), 2, "outside"),
    ("npz", "duplicate-entries", _csr([1, 1], [1, 1], [0, 2, 2]), 2, "more than once"),
    ("npz", "nan-value", _csr([1, np.nan], [0, 1], [0, 1, 2]), 2, "NaN"),
    ("npz", "negative-value", _csr([1, -4], [0, 1], [0, 1, 2]), 2, "row 2"),
    ("npz", "no-format", _npz_arrays(data=np.ones(2)), 2, "not a scipy.sparse"),
    ("npz", "empty-file", _npz_bytes(b""), 2, "empty"),
    ("npz", "truncated", _npz_bytes(_good_npz_bytes()[:150]), 2, "truncated or corrupt"),
    ("npz", "random-bytes", _npz_bytes(bytes(range(256)) * 4), 2, "m.npz"),
    ("npz", "no-values", _csr([], [], [0, 0, 0]), 2, "no stored values"),
    # archives and compression
    ("archives", "zip-member-crc", _corrupt_crc(), 2, "ml.zip!ml/ratings.csv"),
    ("archives", "zip-bomb-member", _zip_bomb(), 2, "decompression bomb"),
    ("archives", "gzip-bomb-named-csv", _gzip_bomb, 2, "decompression bomb"),
    ("archives", "gzip-bomb-inside-a-zip-member", _gzip_bomb_inside_zip(), 2, "decompression bomb"),
    ("archives", "zstd-bomb", _zstd_bomb, 2, "decompression bomb"),
    ("archives", "zstd-corrupt", _zstd_corrupt, 2, "corrupt zstd data"),
    ("archives", "bzip2-named-csv", _compressed_with("bz2"), 2, "bzip2-compressed"),
    ("archives", "xz-named-csv", _compressed_with("lzma"), 2, "xz-compressed"),
    ("archives", "not-a-zip", _npz_bytes(b"x"), 2, "m.npz"),
    ("archives", "glob-chars-in-name", _csv("user_id,item_id,w\n1,1,1\n", name="plays[1].csv"), 0, "dataset written"),
    ("archives", "markup-in-name", _csv("user_id,item_id,w\n1,1,abc\n", name="ratings[red].csv"), 2,
     "ratings[red].csv"),
    # output targets
    ("outputs", "foreign-folder", _synthetic_into(_foreign_folder), 2, "not a recsys dataset folder"),
    ("outputs", "regular-file", _synthetic_into(_regular_file), 2, "is a file"),
    ("outputs", "source-as-out", _source_as_out, 2, "would replace the source"),
    ("outputs", "split-into-dataset", _split_into_dataset, 2, "would replace the source"),
    # experiment files
    ("config", "duplicate-key", _config(_base("seed: 42\nseed: 7\n")), 2, "line 6 and on line 7"),
    ("config", "billion-laughs", _config(_billion_laughs()), 2, "aliases expand"),
    ("config", "not-utf8", _config(b"name: x\xff\n"), 2, "not UTF-8"),
    ("config", "folder", _config_folder, 2, "is a folder"),
    ("config", "ingest-option-type", _config(_base(**{"preset: small": 'preset: small, seed: "abc"'})), 2,
     "dataset: seed"),
    ("config", "tune-choice-not-number", _config(_base().replace(
        "{name: pop, type: popular}", "{name: als, type: ials, tune: {space: {factors: {choices: [8, abc]}}}}")),
     2, "choice 'abc' is not a number"),
    ("config", "markup-in-value", _config(_base(**{"name: x": 'name: "[/x]"'})), 2, "[/x]"),
    ("config", "huge-value-echo", _config(_base(**{"name: x": "name: " + "y" * 100_000 + "!"})), 2, "..."),
    # splits
    ("splits", "temporal-train-empty", _temporal_train_empty, 2, "leaves train empty"),
]


@pytest.mark.parametrize("klass,case,make,code,expected", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_bad_input_case(klass, case, make, code, expected, tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = make(tmp_path)
    argv = [str(a).replace("DATA", str(tmp_path / "data")) for a in argv]
    before = {p.name for p in tmp_path.iterdir()}
    result = cli(*argv)
    text = result.out + result.err
    assert result.code == code, text
    assert expected in text, text
    assert "Traceback" not in text
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert not leftovers
    if code == 2 and "out" not in before:
        assert not (tmp_path / "out").exists()
    if code == 2 and len(text) > 20_000:
        pytest.fail("the message echoes a huge value")
