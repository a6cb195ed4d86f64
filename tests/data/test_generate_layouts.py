"""`recsys generate LAYOUT`: each raw layout is read back by its format's reader into the
synthetic likes it was written from; targets are never anyone else's; the choices are listed
from the registries (data/generators.py)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cli.data.formats.synthetic import draw
from recsys_cli.data.generators import LAYOUTS, PRESETS, layout_for
from recsys_cli.data.download import ARCHIVES

SEED = 5


@pytest.fixture(scope="module")
def likes():
    drawn = draw("small", SEED)
    return {"likes": len(drawn.users), "users": len(np.unique(drawn.users)), "items": len(np.unique(drawn.items))}


def _generate(cli, tmp_path, layout, *extra):
    result = cli("generate", layout, "--dir", tmp_path / "raw", "--seed", SEED, "--json", *extra)
    assert result.code == 0, result.err
    return result.json()


def _ingest(cli, tmp_path, generated, *options):
    result = cli("ingest", generated["format"], generated["ingest_path"], "--out", tmp_path / "ds", "--json", *options)
    assert result.code == 0, result.err
    return result.json()


@pytest.mark.parametrize("layout, options", [
    ("dzen", []),
    ("ozon", ["--include", "orders"]),  # repeat orders add up in one cell
    ("movielens-100k", ["--min-rating", "4"]),  # likes are rated 4-5, the other films 1-3
    ("movielens-1m", ["--min-rating", "4"]),
    ("movielens-latest-small", ["--min-rating", "4"]),
])
def test_the_likes_come_back_through_the_real_reader(cli, tmp_path, likes, layout, options):
    generated = _generate(cli, tmp_path, layout)
    counts = _ingest(cli, tmp_path, generated, *options)["counts"]
    assert (counts["interactions"], counts["users"], counts["items"]) == (likes["likes"], likes["users"], likes["items"])


def test_movielens_without_min_rating_keeps_the_ratings(cli, tmp_path, likes):
    info = _ingest(cli, tmp_path, _generate(cli, tmp_path, "movielens-latest-small"))
    assert info["weight_kind"] == "rating" and info["counts"]["interactions"] > likes["likes"]
    items = pl.read_parquet(tmp_path / "ds" / "items.parquet")
    assert items["name"].str.contains(r", The \(\d{4}\)$").any()  # titles with commas survive the CSV


def test_music_listens_repeat_and_resolve_the_catalogue(cli, tmp_path, likes):
    info = _ingest(cli, tmp_path, _generate(cli, tmp_path, "yandex-music"))
    counts = info["counts"]
    assert counts["events"] > counts["interactions"] > likes["likes"]  # liked tracks replayed, others once
    items = pl.read_parquet(tmp_path / "ds" / "items.parquet")
    assert {"name", "artists", "albums", "genres"} <= set(items.columns)
    assert items["artists"].list.first().str.starts_with("Artist ").all()
    events = pl.read_parquet(tmp_path / "ds" / "events.parquet")
    assert (events["timestamp"] >= 1_671_148_800).sum() > 0  # 2022-12-16: seed 004's cut has a test part


def test_yambda_parts_and_metadata_from_the_root(cli, tmp_path, likes):
    generated = _generate(cli, tmp_path, "yambda")
    assert generated["ingest_path"].endswith(str(Path("yambda", "flat", "50m")))
    liked = _ingest(cli, tmp_path, generated, "--include", "likes")["counts"]["interactions"]
    assert 0.25 * likes["likes"] < liked < 0.35 * likes["likes"]  # a third of the liked tracks
    items = pl.read_parquet(tmp_path / "ds" / "items.parquet")
    assert {"artists", "albums"} <= set(items.columns)


def test_ozon_actions_weigh_and_searches_are_counted(cli, tmp_path):
    info = _ingest(cli, tmp_path, _generate(cli, tmp_path, "ozon"), "--include", "actions")
    assert info["counts"]["action_rows_without_product"] > 0
    actions = pl.read_parquet(tmp_path / "raw" / "ozon" / "user_actions_full_sample")
    assert set(actions["action_type"].unique()) == {"view", "click", "to_cart", "favorite", "order", "search"}
    assert actions.schema["product_id"] == pl.Float64 and actions.schema["user_id"] == pl.Int32


def test_zipped_layouts_are_named_and_laid_out_as_grouplens_publishes_them(cli, tmp_path):
    generated = _generate(cli, tmp_path, "movielens-1m")
    assert Path(generated["path"]).name == ARCHIVES["movielens-1m"].filename
    with zipfile.ZipFile(generated["path"]) as bundle:
        assert sorted(bundle.namelist()) == ["ml-1m/movies.dat", "ml-1m/ratings.dat"]
        assert bundle.read("ml-1m/ratings.dat").decode().splitlines()[0].count("::") == 3


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(cli, tmp_path):
    for name in ("a", "b"):
        assert cli("generate", "yambda", "--out", tmp_path / name / "yambda", "--seed", 3, "-q").code == 0
        assert cli("generate", "movielens-100k", "--out", tmp_path / name / "ml.zip", "--seed", 3, "-q").code == 0
    assert cli("generate", "yambda", "--out", tmp_path / "c" / "yambda", "--seed", 4, "-q").code == 0
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert _digests(tmp_path / "a" / "yambda") != _digests(tmp_path / "c" / "yambda")


class TestTargets:
    def test_a_folder_of_someone_else_is_never_replaced(self, cli, tmp_path):
        (tmp_path / "zen").mkdir()
        (tmp_path / "zen" / "mine.csv").write_text("keep me")
        for extra in ([], ["--force"]):
            result = cli("generate", "dzen", "--out", tmp_path / "zen", *extra)
            assert result.code == 2 and "not written by `recsys generate`" in result.err
        assert [p.name for p in (tmp_path / "zen").iterdir()] == ["mine.csv"]

    def test_a_foreign_zip_is_never_replaced(self, cli, tmp_path):
        (tmp_path / "ml-1m.zip").write_bytes(b"PK not really")
        assert cli("generate", "movielens-1m", "--dir", tmp_path, "--force").code == 2
        assert (tmp_path / "ml-1m.zip").read_bytes() == b"PK not really"

    @pytest.mark.parametrize("layout, name", [("ozon", "ozon"), ("movielens-100k", "ml-100k.zip")])
    def test_its_own_output_is_replaced_with_force_only(self, cli, tmp_path, layout, name):
        assert cli("generate", layout, "--dir", tmp_path, "-q").code == 0
        again = cli("generate", layout, "--dir", tmp_path)
        assert again.code == 2 and "--force" in again.err
        assert cli("generate", layout, "--dir", tmp_path, "--seed", 9, "--force", "-q").code == 0
        assert (tmp_path / name).exists() and not list(tmp_path.glob(".*tmp*"))

    def test_a_symbolic_link_is_refused(self, cli, tmp_path):
        (tmp_path / "real").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "real")
        assert cli("generate", "ozon", "--out", tmp_path / "link").code == 2


def test_choices_are_listed_from_the_registries(cli, tmp_path):
    unknown = cli("generate", "netflix", "--dir", tmp_path)
    assert unknown.code == 2 and all(name in unknown.err for name in LAYOUTS)
    preset = cli("generate", "ozon", "--dir", tmp_path, "--preset", "huge")
    assert preset.code == 2 and all(name in preset.err for name in PRESETS)
    assert not (tmp_path / "ozon").exists()
    helps = {"generate": cli("generate", "--help").out, "synthetic": cli("ingest", "synthetic", "--help").out,
             "download": cli("download", "--help").out}
    assert all(name in helps["generate"] for name in LAYOUTS)
    assert all(name in helps["synthetic"] for name in PRESETS)
    assert all(name in helps["download"] for name in ARCHIVES)


@pytest.mark.parametrize("format, path, expected", [
    ("dzen", "data/raw/zen", ("dzen", Path("data/raw/zen"))),
    ("yambda", "data/raw/yambda/flat/50m", ("yambda", Path("data/raw/yambda"))),
    ("movielens", "data/raw/ml-1m.zip", ("movielens-1m", Path("data/raw/ml-1m.zip"))),
    ("movielens", "data/raw/ml-20m.zip", None),  # no generated twin of that size: say so, not a wrong one
    ("npz", "data/x.npz", None),
])
def test_a_config_path_finds_its_generated_layout(format, path, expected):
    assert layout_for(format, path) == expected
