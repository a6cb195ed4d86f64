"""Item names, genres and ids come from data: rich markup in them (`[/]`, `[/x]`,
`[bold red]BOOM[/bold red]`) prints literally through every verb that shows them, and HTML in
them reaches report.md escaped."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

MARKUP = ["[/]", "[/x]", "[bold red]BOOM[/bold red]", "<script>alert(1)</script>", "a | b [link=x]y[/link]"]


def _config(project: Path, dataset: str) -> Path:
    config = project / "e.yaml"
    config.write_text(f"""name: esc
dataset: {dataset}
split: {{strategy: leave-one-random, test_users: 0.3, seed: 1}}
models:
  - {{name: pop, type: popular}}
  - {{name: i2i, type: item-knn, params: {{neighbors: 10}}}}
  - {{name: rp3, type: rp3beta}}
metrics: {{k: [5], names: [mrr]}}
export: {{recommendations: 3, similar: 3}}
""")
    return config


@pytest.fixture(scope="module")
def music_run(tmp_path_factory):
    """A run on Yandex-Music-style data whose item names and genres are markup and HTML."""
    from recsys_cli.cli.app import main

    project = tmp_path_factory.mktemp("music")
    rng = np.random.default_rng(0)
    items = 10
    users, tracks = np.repeat(np.arange(40), 6), rng.integers(0, items, 240)
    start = datetime(2024, 1, 1)
    folder = project / "music"
    folder.mkdir()
    pl.DataFrame({"user_id": users, "item_id": tracks,
                  "started_at": [start + timedelta(minutes=int(m)) for m in range(240)]}).write_parquet(folder / "events.parquet")
    pl.DataFrame({"item_id": np.arange(items), "name": [MARKUP[i % len(MARKUP)] + f" #{i}" for i in range(items)],
                  "genres": [[MARKUP[(i + 1) % len(MARKUP)]] for i in range(items)]}).write_parquet(folder / "items.parquet")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        config = _config(project, "{format: yandex-music, path: music, out: data/music}")
        assert main(["run", str(config), "--quiet"]) == 0
    return project, (project / "runs" / "esc" / "latest").resolve()


def _literal(text: str) -> None:
    for name in ("[/x]", "[bold red]BOOM[/bold red]", "<script>alert(1)</script>"):
        assert name in text, name


@pytest.fixture
def in_music(music_run, monkeypatch):
    project, run = music_run
    monkeypatch.chdir(project)
    return run


def test_recommend_prints_markup_in_names_and_genres_literally(cli, in_music):
    for models in (["-m", "i2i"], ["-m", "i2i", "-m", "rp3"]):
        result = cli("recommend", in_music, "--user", "3", *models, "-k", "10", "--history", "10")
        assert result.code == 0, result.err
        _literal(result.out)


def test_similar_prints_markup_literally_by_id_and_by_name(cli, in_music):
    for query in (["--item", "2"], ["--item-name", "[bold red]BOOM[/bold red] #2"]):
        for models in (["-m", "i2i"], ["-m", "i2i", "-m", "rp3"]):
            result = cli("similar", in_music, *query, *models, "-k", "9")
            assert result.code == 0, result.err
            assert "similar to [bold red]BOOM[/bold red] #2" in result.out
            _literal(result.out)


def test_an_error_naming_a_markup_name_prints_it_literally(cli, in_music):
    result = cli("similar", in_music, "--item-name", "[bold]nothing like it[/bold]")
    assert result.code == 2 and "[bold]nothing like it[/bold]" in result.err


def test_compare_prints_names_literally_and_report_md_escapes_html(cli, in_music):
    result = cli("compare", in_music, "--item", "3", "--item", "4", "--k", "5", "--model", "i2i", "--model", "rp3")
    assert result.code == 0, result.err
    assert "similar to: <script>alert(1)</script> #3" in result.out
    assert "similar to: a | b [link=x]y[/link] #4" in result.out
    report = (in_music / "report.md").read_text()
    assert "<script>" not in report and "&lt;script&gt;" in report
    assert "a \\| b" in report  # a pipe in a name does not split the table's cells


def test_runs_and_info_verbs_print_paths_and_names_literally(cli, in_music, tmp_path):
    for args in (["runs", "list"], ["runs", "show", "esc"], ["runs", "history", "esc", "--metric", "mrr@5",
                                                              "--plot", tmp_path / "[/x].png"], ["info", "data/music"]):
        result = cli(*args)
        assert result.code == 0, (args, result.err)
    assert "[/x].png" in cli("runs", "history", "esc", "--metric", "mrr@5", "--plot", tmp_path / "[/x].png").out


def test_string_ids_with_markup_print_literally(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    users = ["[/x]", "[bold red]U[/bold red]", "<b>u</b>", "plain", "[/]"] * 8
    rows = [(f"{u}-{n}" if n else u, f"[/item{(n * 7 + i) % 9}]") for n, u in enumerate(users) for i in range(5)]
    (tmp_path / "log.csv").write_text("user_id,item_id\n" + "\n".join(f'"{u}","{i}"' for u, i in rows) + "\n")
    result = cli("run", _config(tmp_path, "{format: table, path: log.csv, out: data/log}"), "--json")
    assert result.code == 0, result.err
    run = Path(result.json()["path"])
    result = cli("recommend", run, "--user", "[/x]", "--user", "[bold red]U[/bold red]", "-m", "i2i", "-k", "3")
    assert result.code == 0, result.err
    assert "user [/x]" in result.out and "user [bold red]U[/bold red]" in result.out and "[/item" in result.out
    similar = cli("similar", run, "--item", "[/item3]", "-m", "i2i", "-m", "rp3", "-k", "3")
    assert similar.code == 0 and "similar to [/item3]" in similar.out
