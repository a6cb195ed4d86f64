"""An unchanged re-run is answered by the latest run (store/replay.py): no new run folder,
the same results and exit code, nothing that computes imported; and any change — the
experiment file, a source file, a byte of the run or its dataset, the baseline a gate
compares with, another run becoming `latest` — makes it a run again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nightly_project import experiment, write_plays
from store_project import flip_byte


def run_folders(project: Path, name: str) -> list[str]:
    folder = project / "runs" / name
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


@pytest.fixture
def smoke_run(project, cli):
    """The smoke experiment run once in the project."""
    assert cli("run", "smoke.yaml", "--quiet").code == 0
    return project


def test_an_unchanged_rerun_makes_no_new_run_and_prints_the_latest_results(smoke_run, cli):
    first = cli("run", "smoke.yaml", "--json")
    assert first.code == 0
    assert len(run_folders(smoke_run, "ci-smoke")) == 1
    summary = first.json()
    assert summary["up_to_date"] is True
    latest = (smoke_run / "runs" / "ci-smoke" / "latest").resolve()
    assert summary["path"] == str(latest)
    recorded = json.loads((latest / "metrics.json").read_text())
    assert summary["metrics"]["ials"]["mrr@100"] == pytest.approx(recorded["models"]["ials"]["mrr@100"])

    told = cli("run", "smoke.yaml")
    assert told.code == 0
    assert "up to date:" in told.err and str(latest) in told.err.replace("\n", "")
    assert "ials" in told.out and "complete:" in told.out


def test_force_makes_a_new_run_that_reuses_the_stored_stages(smoke_run, cli):
    result = cli("run", "smoke.yaml", "--force", "--json")
    assert result.code == 0
    assert len(run_folders(smoke_run, "ci-smoke")) == 2
    stages = result.json()["stages"]
    assert stages["train/ials"]["reused_from"] is not None
    assert cli("run", "smoke.yaml", "--quiet").code == 0  # the forced run is now the answer
    assert len(run_folders(smoke_run, "ci-smoke")) == 2


def test_any_edit_of_the_experiment_file_runs_again(smoke_run, cli):
    config = smoke_run / "smoke.yaml"
    config.write_text(config.read_text() + "# a comment\n")
    assert cli("run", "smoke.yaml", "--quiet").code == 0
    assert len(run_folders(smoke_run, "ci-smoke")) == 2


@pytest.mark.parametrize("damaged", ["models/ials/state.npz", "report.html", "manifest.json"])
def test_a_changed_byte_in_the_latest_run_runs_again(smoke_run, cli, damaged):
    latest = (smoke_run / "runs" / "ci-smoke" / "latest").resolve()
    flip_byte(latest / damaged, keep_mtime=True)
    result = cli("run", "smoke.yaml", "--json")
    assert result.code == 0
    assert "up_to_date" not in result.json()
    assert len(run_folders(smoke_run, "ci-smoke")) == 2


def test_a_changed_byte_in_the_dataset_or_split_runs_again(smoke_run, cli):
    manifest = json.loads((smoke_run / "runs" / "ci-smoke" / "latest" / "manifest.json").read_text())
    damaged = Path(manifest["stages"]["split"]["path"]) / "train.npz"
    flip_byte(damaged, keep_mtime=True)
    result = cli("run", "smoke.yaml", "--json")  # not an answer: the run reads the split and names the damage
    assert result.code == 2 and str(damaged) in result.err


def test_another_run_made_latest_runs_again(smoke_run, cli):
    config = smoke_run / "smoke.yaml"
    original = config.read_text()
    config.write_text(original.replace("l2: 100", "l2: 200"))
    assert cli("run", "smoke.yaml", "--quiet").code == 0
    config.write_text(original)  # back to the first file: its run is no longer `latest`
    assert "up_to_date" not in cli("run", "smoke.yaml", "--json").json()
    assert len(run_folders(smoke_run, "ci-smoke")) == 3


def test_a_changed_source_file_runs_again(project, cli):
    write_plays(project / "plays.csv", days=8)
    config = experiment(project, gate=[])
    assert cli("run", config, "--quiet").code == 0
    assert cli("run", config, "--json").json()["up_to_date"] is True
    with open(project / "plays.csv", "a") as handle:
        handle.write("u1,i2,1700900000\n")
    assert "up_to_date" not in cli("run", config, "--json").json()
    assert len(run_folders(project, "nightly")) == 2


def test_a_failed_gate_is_reported_again_with_its_exit_code(project, cli):
    write_plays(project / "plays.csv", days=8)
    config = experiment(project, gate=["ials.mrr@100 >= 0.99"])
    first = cli("run", config, "--quiet")
    assert first.code == 3
    again = cli("run", config, "--quiet")
    assert again.code == 3
    assert "gate failed" in again.err and "0.99" in again.err
    assert len(run_folders(project, "nightly")) == 1


def test_a_passed_gate_moves_the_baseline_so_the_next_run_compares_again(project, cli):
    write_plays(project / "plays.csv", days=8)
    config = experiment(project, gate=["ials.mrr@100 >= baseline - 0.005"])
    assert cli("run", config, "--quiet").code == 0
    second = cli("run", config, "--json")  # the baseline is now the first run: a new comparison
    assert second.code == 0 and "up_to_date" not in second.json()
    assert second.json()["baseline"]["baseline"]["run"] == run_folders(project, "nightly")[0]


def test_an_unchanged_rerun_imports_nothing_that_computes(smoke_run):
    code = ("import sys\nfrom recsys_cli.cli.app import main\ncode = main(['run', 'smoke.yaml', '--quiet'])\n"
            "heavy = sorted(m for m in ('numpy', 'scipy', 'polars', 'implicit', 'pydantic', 'optuna', 'matplotlib')"
            " if m in sys.modules)\nprint(code, heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=smoke_run, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 []"
