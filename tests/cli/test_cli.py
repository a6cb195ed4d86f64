"""The command line as a user types it: help, info, JSON output, exit codes."""

from __future__ import annotations

import subprocess
import sys


def _verbs() -> list[str]:
    from recsys_cli.cli.app import app

    return [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]


def test_help_lists_every_verb_and_ingest_format(cli):
    verbs = _verbs()
    assert {"ingest", "download", "info", "split", "train", "evaluate", "run", "tune", "compare"} <= set(verbs)
    result = cli("--help")
    assert result.code == 0
    for verb in verbs:
        assert verb in result.out, verb
        own = cli(verb, "--help")
        assert own.code == 0 and "Usage: recsys " + verb in own.out, verb
        assert "Example" in own.out or verb == "ingest", f"`recsys {verb} --help` shows no example"
    result = cli("ingest", "--help")
    for fmt in ("movielens", "dzen", "ozon", "yandex-music", "npz", "table", "synthetic"):
        assert fmt in result.out


def test_python_dash_m_and_help_do_not_import_heavy_libraries():
    code = "import sys, runpy; sys.argv=['recsys','--help']\ntry: runpy.run_module('recsys_cli', run_name='__main__')\nexcept SystemExit: pass\nprint(sorted(m for m in ('numpy','scipy','polars','implicit','optuna') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_info_and_json_for_scripts(cli, tmp_path):
    assert cli("ingest", "synthetic", "--out", tmp_path / "ds", "--quiet").code == 0
    result = cli("info", tmp_path / "ds", "--json")
    assert result.code == 0
    summary = result.json()
    assert summary["users"] > 0 and summary["time_range"][0].startswith("2022")
    assert set(summary["user_activity_quantiles"]) >= {"q50", "q90"}
    assert "users" in cli("info", tmp_path / "ds").out


def test_info_on_a_folder_that_is_not_a_dataset(cli, tmp_path):
    result = cli("info", tmp_path)
    assert result.code == 2 and "dataset.json" in result.err


def test_usage_errors_exit_2(cli, tmp_path):
    assert cli("split", tmp_path).code == 2  # --strategy missing
    assert cli("ingest", "synthetic", "--out", tmp_path / "x", "--preset", "huge").code == 2
    assert cli("ingest", "synthetic", "--out", tmp_path / "x", "--debug-slice", "3", "3").code == 2
    assert not (tmp_path / "x").exists()


def test_debug_slice_end_to_end(cli, tmp_path):
    result = cli("ingest", "synthetic", "--out", tmp_path / "slice", "--debug-slice", "0.1", "0.2", "--json")
    assert result.code == 0
    counts = result.json()["counts"]
    assert counts["items"] <= 200 and counts["users"] <= 800
