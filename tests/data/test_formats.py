"""Every source format, from hand-written fixture files, into the canonical dataset folder."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from datetime import date, datetime

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from conftest import FIXTURES, read_events, read_matrix


def _ingest(cli, *args):
    result = cli("ingest", *args, "--quiet")
    assert result.code == 0, result.err
    return result


def _items(out):
    return pl.read_parquet(out / "items.parquet")


def _matrix_by_ids(out) -> dict[tuple, float]:
    """{(original user id, original item id): weight} from the written dataset."""
    users = pl.read_parquet(out / "users.parquet")["user_id"].to_list()
    items = _items(out)["item_id"].to_list()
    coo = read_matrix(out / "matrix.npz").tocoo()
    return {(users[u], items[i]): float(w) for u, i, w in zip(coo.row, coo.col, coo.data)}


class TestMovieLens:
    def test_100k_tab_file_with_latin1_titles_and_genre_flags(self, cli, tmp_path):
        _ingest(cli, "movielens", FIXTURES / "ml-100k", "--out", tmp_path / "ds")
        assert _matrix_by_ids(tmp_path / "ds")[(1, 20)] == 3.0
        items = _items(tmp_path / "ds")
        assert items.filter(pl.col("item_id") == 20)["name"].item() == "Misérables, Les (1995)"
        assert items.filter(pl.col("item_id") == 10)["genres"].item().to_list() == ["Animation", "Children's", "Comedy"]

    def test_1m_double_colon_file_from_the_zip(self, cli, tmp_path):
        archive = tmp_path / "ml-1m.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for name in ("ratings.dat", "movies.dat"):
                zf.write(FIXTURES / "ml-1m" / name, f"ml-1m/{name}")
        _ingest(cli, "movielens", archive, "--out", tmp_path / "ds")
        weights = _matrix_by_ids(tmp_path / "ds")
        assert weights == {(1, 1193): 5.0, (1, 661): 3.0, (2, 1193): 4.0, (2, 3408): 4.0, (6040, 661): 2.0}
        names = dict(zip(*_items(tmp_path / "ds").select("item_id", "name").to_dict(as_series=False).values()))
        assert names[3408] == "Erin Brockovich: À la carte (2000)"  # ':' inside a '::' file, latin-1

    def test_latest_csv_with_quoted_commas_and_min_rating(self, cli, tmp_path):
        _ingest(cli, "movielens", FIXTURES / "ml-latest", "--out", tmp_path / "ds", "--min-rating", "4")
        weights = _matrix_by_ids(tmp_path / "ds")
        assert weights == {(1, 1): 1.0, (2, 1): 1.0, (2, 11): 1.0}  # 3.5 and 0.5 dropped
        names = _items(tmp_path / "ds")["name"].to_list()
        assert "American President, The (1995)" in names
        events = read_events(tmp_path / "ds")
        assert events["timestamp"].is_sorted()

    def test_ratings_kept_as_weights_without_min_rating(self, cli, tmp_path):
        _ingest(cli, "movielens", FIXTURES / "ml-latest", "--out", tmp_path / "ds")
        assert _matrix_by_ids(tmp_path / "ds")[(3, 48)] == 0.5

    def test_malformed_rating_line_names_the_file_and_line(self, cli, tmp_path):
        folder = tmp_path / "bad"
        shutil.copytree(FIXTURES / "ml-latest", folder)
        with open(folder / "ratings.csv", "a") as handle:
            handle.write("4,1,five,964982703\n")
        result = cli("ingest", "movielens", folder, "--out", tmp_path / "ds")
        assert result.code == 2
        assert "ratings.csv" in result.err and "line 7" in result.err and "'five'" in result.err
        assert not (tmp_path / "ds").exists()

    def test_folder_without_ratings_is_refused(self, cli, tmp_path):
        result = cli("ingest", "movielens", tmp_path, "--out", tmp_path / "ds")
        assert result.code == 2 and "u.data" in result.err


class TestDzen:
    def test_list_layout_with_big_ids_empty_lists_and_duplicates(self, cli, tmp_path):
        result = cli("ingest", "dzen", FIXTURES / "dzen", "--out", tmp_path / "ds", "--json")
        assert result.code == 0, result.err
        info = result.json()
        assert info["counts"]["users"] == 3  # user 7 has an empty list
        assert info["counts"]["events"] == 7 and info["counts"]["interactions"] == 6
        weights = _matrix_by_ids(tmp_path / "ds")
        assert weights[(-4250619547882954185, 15)] == 2.0  # a duplicate like sums in the matrix
        assert weights[(993675863667353526, 81)] == 1.0
        items = _items(tmp_path / "ds")
        assert items.filter(pl.col("item_id") == 94)["source"].item() == -9036908390349249792
        assert items.filter(pl.col("item_id") == 15)["name"].item() == "Что обычно ожидало, казачек"
        assert 999 not in items["item_id"].to_list()  # named but never liked: not in the catalogue
        assert info["has_timestamps"] is False

    def test_dedupe_counts_a_duplicate_like_once(self, cli, tmp_path):
        _ingest(cli, "dzen", FIXTURES / "dzen", "--out", tmp_path / "ds", "--dedupe")
        assert _matrix_by_ids(tmp_path / "ds")[(-4250619547882954185, 15)] == 1.0

    def test_dict_layout_gzipped(self, cli, tmp_path):
        folder = tmp_path / "zen" / "zen_dataset"
        folder.mkdir(parents=True)
        for name in ("user_ratings", "item_meta"):
            with open(FIXTURES / "dzen-dict" / "zen_dataset" / f"{name}.csv", "rb") as src, gzip.open(folder / f"{name}.gz", "wb") as dst:
                dst.write(src.read())
        result = cli("ingest", "dzen", tmp_path / "zen", "--out", tmp_path / "ds", "--json")
        assert result.code == 0, result.err
        assert _matrix_by_ids(tmp_path / "ds") == {(100, 5): 1.0, (200, 7): 1.0, (300, 5): 1.0, (300, 9): 1.0, (300, 7): 1.0}
        assert result.json()["counts"]["zero_weight_events"] == 1
        assert _items(tmp_path / "ds").filter(pl.col("item_id") == 9)["name"].item() == "Третья, с запятой"

    def test_unparseable_item_list_names_the_row(self, cli, tmp_path):
        folder = tmp_path / "zen"
        shutil.copytree(FIXTURES / "dzen", folder)
        with open(folder / "zen_ratings.csv", "a") as handle:
            handle.write('4,43,"[1, two, 3]"\n')
        result = cli("ingest", "dzen", folder, "--out", tmp_path / "ds")
        assert result.code == 2
        assert "zen_ratings.csv" in result.err and "row 5" in result.err and "item_ids" in result.err

    def test_misnamed_column(self, cli, tmp_path):
        folder = tmp_path / "zen"
        folder.mkdir()
        (folder / "zen_ratings.csv").write_text('uid,item_ids\n1,"[1]"\n')
        result = cli("ingest", "dzen", folder, "--out", tmp_path / "ds")
        assert result.code == 2 and "'user_id'" in result.err and "found 'uid'" in result.err


class TestOzon:
    def test_orders_and_weighted_actions(self, cli, ozon_folder, tmp_path):
        result = cli("ingest", "ozon", ozon_folder, "--out", tmp_path / "ds", "--json")
        assert result.code == 0, result.err
        info = result.json()
        big = 2**33
        weights = _matrix_by_ids(tmp_path / "ds")
        assert weights[(1, big)] == 5.0  # an order
        assert weights[(1, big + 2)] == 0.5  # a view
        assert weights[(2, big + 2)] == 3.0  # to_cart
        assert weights[(3, big)] == 2.0 + 0.5  # favorite + view add up
        assert info["counts"]["action_rows_without_product"] == 1
        assert _items(tmp_path / "ds").filter(pl.col("item_id") == big + 1)["brand"].item() == "GFGRIL"
        times = read_events(tmp_path / "ds")["timestamp"]
        assert times.min() == 1_709_251_200  # the first order's date, 2024-03-01 00:00 UTC
        assert times.max() == 1_721_433_600  # test_orders' 2024-07-20

    def test_weight_override_and_orders_only(self, cli, ozon_folder, tmp_path):
        _ingest(cli, "ozon", ozon_folder, "--out", tmp_path / "a", "--action-weight", "view=0", "--action-weight", "favorite=7")
        weights = _matrix_by_ids(tmp_path / "a")
        assert (1, 2**33 + 2) not in weights and weights[(3, 2**33)] == 7.0
        _ingest(cli, "ozon", ozon_folder, "--out", tmp_path / "b", "--include", "orders")
        assert len(_matrix_by_ids(tmp_path / "b")) == 4

    def test_a_product_id_with_a_fraction_is_refused_not_truncated(self, cli, ozon_folder, tmp_path):
        actions = pl.read_parquet(ozon_folder / "user_actions_full_sample")
        actions.with_columns(pl.Series("product_id", [1.0, 2.5, None, 3.0, 4.0])).write_parquet(
            ozon_folder / "user_actions_full_sample")
        result = cli("ingest", "ozon", ozon_folder, "--out", tmp_path / "ds")
        assert result.code == 2 and "user_actions_full_sample" in result.err
        assert "row 2, column 'product_id': 2.5 is not an integer id" in result.err
        assert not (tmp_path / "ds").exists()

    def test_unknown_action_type_is_named(self, cli, ozon_folder, tmp_path):
        actions = pl.read_parquet(ozon_folder / "user_actions_full_sample")
        actions.with_columns(pl.lit("share").alias("action_type")).write_parquet(ozon_folder / "user_actions_more")
        result = cli("ingest", "ozon", ozon_folder, "--out", tmp_path / "ds")
        assert result.code == 2 and "share" in result.err and "user_actions_more" in result.err


class TestYandexMusic:
    def test_events_with_track_seq_and_raw_catalogue(self, cli, tmp_path):
        folder = tmp_path / "music"
        folder.mkdir()
        pl.DataFrame(
            {"user_id": [1, 1, 1, 2], "track_id": [100, 200, 100, 200],
             "track_seq": [2, 1, 3, 1], "started_at": [date(2022, 12, 1)] * 3 + [date(2022, 12, 20)]},
        ).write_parquet(folder / "interactions.parquet")
        pl.DataFrame({"track_id": [100, 200], "albums": [[7], [7, 8]], "artists": [[5], [6]], "genres": [[11, 12], []]}).write_parquet(folder / "tracks.parquet")
        pl.DataFrame({"id": [100, 200, 7, 8, 5, 6, 11, 12],
                      "type": ["track", "track", "album", "album", "artist", "artist", "genre", "genre"],
                      "name": ["Song A", "Song B", "Album X", "Album Y", "Artist P", "Artist Q", "rock", "pop"]}
                     ).write_parquet(folder / "catalog_names.parquet")
        _ingest(cli, "yandex-music", folder, "--out", tmp_path / "ds")
        assert _matrix_by_ids(tmp_path / "ds") == {(1, 100): 2.0, (1, 200): 1.0, (2, 200): 1.0}
        items = _items(tmp_path / "ds").sort("item_id")
        assert items["name"].to_list() == ["Song A", "Song B"]
        assert items["genres"].to_list() == [["rock", "pop"], []]
        assert items["albums"].to_list()[1] == ["Album X", "Album Y"]
        events = read_events(tmp_path / "ds")
        first_day = events.filter(pl.col("user_idx") == 0)["item_idx"].to_list()
        assert first_day == [1, 0, 0]  # track_seq order within the same day

    def test_ready_items_table(self, cli, tmp_path):
        folder = tmp_path / "music"
        folder.mkdir()
        pl.DataFrame({"user_id": [1, 2], "item_id": [5, 5], "started_at": [datetime(2022, 1, 1)] * 2}).write_parquet(folder / "events.parquet")
        pl.DataFrame({"item_id": [5], "name": ["Track"], "genres": [["jazz"]], "artists": [["A"]], "albums": [["B"]]}).write_parquet(folder / "items.parquet")
        _ingest(cli, "yandex-music", folder, "--out", tmp_path / "ds")
        assert _items(tmp_path / "ds")["artists"].to_list() == [["A"]]


class TestNpzAndTable:
    def test_npz_ids_are_indices(self, cli, tmp_path):
        matrix = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 0], [2, 0, 1]], dtype=np.float64))
        sp.save_npz(tmp_path / "data_train.npz", matrix)
        _ingest(cli, "npz", tmp_path / "data_train.npz", "--out", tmp_path / "ds")
        assert _matrix_by_ids(tmp_path / "ds") == {(0, 1): 1.0, (2, 0): 2.0, (2, 2): 1.0}

    def test_not_an_npz(self, cli, tmp_path):
        (tmp_path / "x.npz").write_text("hello")
        result = cli("ingest", "npz", tmp_path / "x.npz", "--out", tmp_path / "ds")
        assert result.code == 2 and "x.npz" in result.err

    def test_tsv_with_string_ids_weights_and_iso_times(self, cli, tmp_path):
        (tmp_path / "plays.tsv").write_text("uid\ttrack\tplays\tts\nann\tt1\t3\t2023-01-02\nbob\tt1\t1\t2023-01-01\nann\tt2\t2\t2023-01-03\n")
        _ingest(cli, "table", tmp_path / "plays.tsv", "--user", "uid", "--item", "track", "--weight", "plays", "--time", "ts", "--out", tmp_path / "ds")
        assert _matrix_by_ids(tmp_path / "ds") == {("ann", "t1"): 3.0, ("bob", "t1"): 1.0, ("ann", "t2"): 2.0}
        assert read_events(tmp_path / "ds")["timestamp"].to_list()[0] == 1_672_531_200  # 2023-01-01 UTC

    @pytest.mark.parametrize("compression", ["gzip", "zstd"])
    def test_compressed_table_is_sniffed_and_read_without_options(self, cli, tmp_path, compression):
        """The separator is guessed from the decompressed first lines (a two-character one,
        which is replaced before polars parses, so the whole file is decompressed first)."""
        import zstandard

        text = b"uid::track\nann::t1\nbob::t1\nann::t2\n"
        packed = gzip.compress(text) if compression == "gzip" else zstandard.ZstdCompressor().compress(text)
        path = tmp_path / ("plays.dat.gz" if compression == "gzip" else "plays.dat.zst")
        path.write_bytes(packed)
        _ingest(cli, "table", path, "--user", "uid", "--item", "track", "--out", tmp_path / "ds")
        assert _matrix_by_ids(tmp_path / "ds") == {("ann", "t1"): 1.0, ("bob", "t1"): 1.0, ("ann", "t2"): 1.0}

    def test_plain_table_starting_like_a_zlib_header_is_read_as_text(self, cli, tmp_path):
        """'x ' is 0x78 0x20, a valid RFC 1950 check; no compressor writes it, and polars reads it as text."""
        (tmp_path / "t.csv").write_text("x user,item\nann,t1\nbob,t2\n")
        _ingest(cli, "table", tmp_path / "t.csv", "--user", "x user", "--item", "item", "--out", tmp_path / "ds")
        assert _matrix_by_ids(tmp_path / "ds") == {("ann", "t1"): 1.0, ("bob", "t2"): 1.0}

    def test_wrong_column_is_named(self, cli, tmp_path):
        (tmp_path / "t.csv").write_text("user,item\n1,2\n")
        result = cli("ingest", "table", tmp_path / "t.csv", "--user", "user", "--item", "movie", "--out", tmp_path / "ds")
        assert result.code == 2 and "'movie'" in result.err and "t.csv" in result.err

    def test_empty_file(self, cli, tmp_path):
        (tmp_path / "t.csv").write_text("user_id,item_id\n")
        result = cli("ingest", "table", tmp_path / "t.csv", "--out", tmp_path / "ds")
        assert result.code == 2 and "no data rows" in result.err
        assert not (tmp_path / "ds").exists()
