"""The newcomer's list: piped output, every config error at once, headerless and `::` tables,
--help that explains itself, one list style, progress within long fits, download and info."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
import typer.main
import yaml

from recsys_cli.cli.app import app
from recsys_cli.cli.common import names_list
from recsys_cli.data.delimited import guess_separator, looks_like_data


def test_piped_output_is_full_width_and_unwrapped(project):
    """A subprocess writing to a pipe, as cron does: no '…', no line cut at 80 columns."""
    subprocess.run([sys.executable, "-m", "recsys_cli", "ingest", "synthetic", "--out", "data/demo", "--quiet"],
                   cwd=project, check=True)
    result = subprocess.run([sys.executable, "-m", "recsys_cli", "info", "data/demo"], cwd=project,
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})  # COLUMNS, if exported, is obeyed
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    quantiles = next(line for line in result.stdout.splitlines() if "user_activity_quantiles" in line)
    assert "q0=" in quantiles and "q100=" in quantiles  # the whole row on one line
    long_message = subprocess.run([sys.executable, "-m", "recsys_cli", "info", "data/" + "x" * 150],
                                  cwd=project, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert long_message.returncode == 2
    assert len([line for line in long_message.stderr.splitlines() if line.strip()]) == 1  # not wrapped


def test_info_shows_no_empty_rows(cli, tmp_path):
    assert cli("ingest", "synthetic", "--out", tmp_path / "d", "--quiet").code == 0
    (tmp_path / "t.csv").write_text("user_id,item_id\n1,2\n1,3\n2,2\n")
    assert cli("ingest", "table", tmp_path / "t.csv", "--out", tmp_path / "t", "--quiet").code == 0
    out = cli("info", tmp_path / "t").out
    assert "time_range" not in out and "None" not in out and "item_metadata" not in out
    assert cli("info", tmp_path / "t", "--json").json()["time_range"] is None  # scripts keep the key


def test_every_config_error_is_reported_at_once(cli, project):
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["models"][0]["type"] = "popularr"  # an unknown type in one entry...
    config["models"][2]["params"]["factorz"] = 3  # ...hides neither a bad parameter in another
    config["models"][3]["params"]["l2"] = -1
    config["split"]["test_users"] = 7
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))
    result = cli("run", "smoke.yaml")
    assert result.code == 2
    for expected in ("models[0].type", "models[2].params.factorz: unknown key", "models[3].params.l2",
                     "split.test_users"):
        assert expected in result.err, expected
    assert not (project / "runs").exists()


class TestTable:
    def _ingest(self, cli, path, *args):
        return cli("ingest", "table", path, "--out", path.parent / "ds", "--json", *args)

    def test_headerless_movielens_dat_with_double_colon(self, cli, tmp_path):
        path = tmp_path / "ratings.dat"
        path.write_text("1::10::5::978300760\n1::11::3::978300761\n2::10::4::978300762\n")
        result = self._ingest(cli, path, "--no-header", "--weight", "3", "--time", "4")
        assert result.code == 0, result.err
        assert result.json()["counts"]["events"] == 3  # the first line is data, not a header
        events = pl.read_parquet(tmp_path / "ds" / "events.parquet")
        assert sorted(events["weight"].to_list()) == [3.0, 4.0, 5.0]
        assert events["timestamp"].min() == 978300760

    def test_a_data_looking_first_line_is_refused_not_eaten(self, cli, tmp_path):
        path = tmp_path / "ratings.dat"
        path.write_text("1::10::5::978300760\n1::11::3::978300761\n")
        result = self._ingest(cli, path)
        assert result.code == 2 and "looks like data, not a header; pass --no-header" in result.err
        assert not (tmp_path / "ds").exists()
        csv = tmp_path / "plain.csv"
        csv.write_text("1,10\n2,11\n")
        assert "looks like data" in self._ingest(cli, csv).err

    def test_positions_and_named_columns_together(self, cli, tmp_path):
        path = tmp_path / "plays.csv"
        path.write_text("u,track,plays\nа,x,3\nb,y,1\n")
        result = self._ingest(cli, path, "--user", "1", "--item", "track", "--weight", "3")
        assert result.code == 0, result.err and result.json()["counts"]["users"] == 2
        assert "out of range: the file has 3 columns" in self._ingest(cli, path, "--user", "9").err

    def test_the_separator_is_guessed_for_dat_and_hinted_when_wrong(self, cli, tmp_path):
        dat = tmp_path / "x.dat"
        dat.write_text("user_id\titem_id\n1\t2\n3\t4\n")
        assert guess_separator(dat) == "\t"
        assert self._ingest(cli, dat).code == 0
        wrong = tmp_path / "semi.csv"
        wrong.write_text("user_id;item_id\n1;2\n3;4\n")
        result = self._ingest(cli, wrong)
        assert result.code == 2 and "single column" in result.err and "--sep ';'" in result.err
        assert self._ingest(cli, wrong, "--sep", ";").code == 0
        odd = tmp_path / "odd.txt"
        odd.write_text("ab\ncd ef\n")
        assert "give --sep" in self._ingest(cli, odd).err

    def test_helpers(self):
        assert looks_like_data(["1", "1193", "5", "978300760"]) and looks_like_data(["-1.5", "2e3"])
        assert not looks_like_data(["user", "1"]) and not looks_like_data([])


def _commands(command, path):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, [*path, name])


def test_every_option_and_argument_has_a_description():
    missing = [(" ".join(path), p.name) for path, command in _commands(typer.main.get_command(app), ["recsys"])
               for p in command.params if p.name != "help" and not getattr(p, "help", None)]
    assert missing == []


def test_help_lists_exit_codes_and_plain_metavars(cli):
    out = " ".join(cli("--help").out.split())
    assert "Exit codes: 0 ok; 1 failure" in out and "2 bad input" in out and "130 interrupted" in out
    tune = cli("tune", "--help").out
    assert "<bool>" not in tune and "{config}" not in tune and "CONFIG" in tune and "PATH" in tune


def test_one_list_style_for_model_names(cli, project, monkeypatch):
    assert names_list(["a,b", "c", " a "]) == ["a", "b", "c"] and names_list(None) is None
    from recsys_cli import run as driver

    seen = {}
    monkeypatch.setattr(driver, "tune_experiment", lambda *a, **k: seen.setdefault("models", k["models"]) and {})
    cli("tune", "smoke.yaml", "--models", "ials,ease", "--quiet")
    assert seen["models"] == ["ials", "ease"]
    seen.clear()
    cli("tune", "smoke.yaml", "--model", "ials", "--model", "ease", "--quiet")
    assert seen["models"] == ["ials", "ease"]
    import recsys_cli.serving.compare as compare_module

    monkeypatch.setattr(compare_module, "compare_run", lambda run, names, **k: seen.setdefault("compare", names))
    cli("compare", "runs/x", "--model", "a", "--models", "b,c", "--quiet")
    assert seen["compare"] == ["a", "b", "c"]


def test_long_fits_report_progress_within_the_model():
    from recsys_cli.models.slim import SLIM

    rng = np.random.default_rng(0)
    train = sp.csr_matrix((rng.random((60, 40)) < 0.2).astype(np.float32))
    calls = []
    model = SLIM({"candidates": 10}, threads=2)
    model.on_progress = lambda done, total, what: calls.append((done, total, what))
    model.fit(train)
    assert calls[-1] == (40, 40, "items") and [c[0] for c in calls] == sorted(c[0] for c in calls)


def test_rerank_reports_its_trees():
    from recsys_cli.models.rerank import Rerank

    rng = np.random.default_rng(1)
    train = sp.csr_matrix((rng.random((80, 30)) < 0.25).astype(np.float32))
    calls = []
    model = Rerank({"n_estimators": 7, "generators": [{"type": "popular", "candidates": 10}]})
    model.on_progress = lambda done, total, what: calls.append((done, total, what))
    model.fit(train)
    trees = [c for c in calls if c[2] == "trees"]
    assert trees[-1] == (7, 7, "trees") and len(trees) == 7


def test_training_progress_reaches_the_reporter(project):
    from recsys_cli.run import run_experiment
    from recsys_cli.stages.env import Reporter

    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["models"] = [{"name": "slim", "type": "slim", "params": {"candidates": 20}}]
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))

    class Recorder(Reporter):
        details: list = []

        def detail(self, description, done, total):
            self.details.append((description, done, total))

    reporter = Recorder()
    run_experiment(project / "smoke.yaml", project / "runs", until="train", reporter=reporter)
    assert reporter.details and reporter.details[-1][0] == "slim: items"
    assert reporter.details[-1][1] == reporter.details[-1][2]


def test_download_of_an_unknown_name_fails_before_any_progress(tmp_path):
    result = subprocess.run([sys.executable, "-m", "recsys_cli", "download", "movielens-2m", "--dir", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # the error line only
    assert "unknown dataset 'movielens-2m'" in result.stderr and "movielens-1m" in result.stderr
    assert list(Path(tmp_path).iterdir()) == []


@pytest.mark.parametrize("argv", [["compare", "--help"], ["ingest", "table", "--help"]])
def test_list_and_table_options_are_documented(cli, argv):
    out = cli(*argv).out
    assert ("--models" in out) or ("--no-header" in out)
