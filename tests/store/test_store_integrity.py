"""Every reused byte is checked: a damaged store object (one flipped byte in each artifact kind,
a truncated, empty or half-written file, an edited record) is never used — it is set aside,
the stage recomputed, and the run says so; the same for dataset versions; `recsys runs
verify` finds what is damaged; large files are hashed under `--verify`, after an unclean stop
and when their modification time changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from store_project import dead_pid, flip_byte, latest_run, truncate

from recsys_cli.data.dataset import DATASET_FILES
from recsys_cli.data.dataset_store import check_version

ARTIFACT_FILES = [  # one file of every artifact kind the tiny run stores
    "train/*/models/ials/state.npz",
    "train/*/models/i2i/params.json",
    "evaluate/*/per_user/ials.parquet",
    "export/*/recommendations/i2i.parquet",
    "export/*/similar/i2i.parquet",
    "tune/*/tune/ials/trials.parquet",
    "tune/*/tune/ials/best.yaml",
]


def _stored(project: Path, pattern: str) -> Path:
    found = sorted((project / "runs" / ".store").glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def _set_aside(project: Path) -> list[Path]:
    folder = project / "runs" / ".store" / ".damaged"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _metrics(cli) -> dict:
    result = cli("run", "tiny.yaml", "--json")
    assert result.code == 0, result.err
    return result


@pytest.mark.parametrize("pattern", ARTIFACT_FILES)
def test_a_flipped_byte_in_any_artifact_is_set_aside_recomputed_and_said(cli, tiny, pattern):
    path = _stored(tiny, pattern)
    before = json.loads((latest_run(tiny) / "metrics.json").read_text())["models"]
    flip_byte(path)
    result = _metrics(cli)
    assert f"damaged: {path}" in result.err and "recomputed" in result.err
    assert len(_set_aside(tiny)) == 1
    kind = pattern.split("/")[0]
    stage = next(name for name, stage in result.json()["stages"].items()
                 if name.startswith(kind + "/") and stage["reused_from"] is None)
    assert stage  # that stage ran again instead of reusing the damaged files
    assert result.json()["metrics"] == before  # the numbers of the undamaged run
    assert cli("runs", "verify", "tiny").code == 0  # the new run holds intact files


@pytest.mark.parametrize("damage", ["truncate", "empty", "half-written record"])
def test_truncated_empty_and_half_written_store_files_are_recomputed(cli, tiny, damage):
    path = _stored(tiny, "train/*/models/ials/state.npz")
    if damage == "truncate":
        truncate(path)
    elif damage == "empty":
        truncate(path, keep=0)
    else:
        path = path.parents[2] / "artifact.json"
        truncate(path)
    result = _metrics(cli)
    assert f"damaged: {path}" in result.err
    assert result.json()["stages"]["train/ials"]["reused_from"] is None


def test_an_edited_evaluation_record_never_reaches_the_tables(cli, tiny):
    record_path = next(p for p in (tiny / "runs" / ".store" / "evaluate").glob("*/artifact.json")
                       if json.loads(p.read_text())["files"] == ["per_user/ials.parquet"])
    record = json.loads(record_path.read_text())
    true_value = record["record"]["summary"]["mrr@10"]
    record["record"]["summary"]["mrr@10"] = 0.9686
    record_path.write_text(json.dumps(record, indent=2))
    result = _metrics(cli)
    assert f"damaged: {record_path}" in result.err
    assert result.json()["metrics"]["ials"]["mrr@10"] == true_value
    csv = (Path(result.json()["path"]) / "metrics.csv").read_text()
    assert "0.9686" not in csv and f"{true_value}"[:6] in csv


def test_an_artifact_claiming_another_store_is_not_reused(cli, tiny):
    record_path = _stored(tiny, "train/*/models/pop/params.json").parents[2] / "artifact.json"
    record = json.loads(record_path.read_text())
    record["store"] = "someone-else"
    from recsys_cli.core.integrity import seal

    record_path.write_text(json.dumps(seal({k: v for k, v in record.items() if k != "digest"})))
    result = _metrics(cli)
    assert "made by another store" in result.err
    assert result.json()["stages"]["train/pop"]["reused_from"] is None


@pytest.mark.parametrize("name", [*DATASET_FILES, "checksums.json"])
def test_a_flipped_byte_in_a_dataset_version_is_set_aside_and_rebuilt(cli, tiny, name):
    version = (tiny / "data" / "tiny").resolve()
    flip_byte(version / name)
    result = _metrics(cli)
    assert "damaged:" in result.err and "rebuilt" in result.err and str(version) in result.err
    aside = sorted((tiny / "data" / ".recsys-store" / ".damaged").iterdir())
    assert len(aside) == 1
    rebuilt = (tiny / "data" / "tiny").resolve()
    assert rebuilt == version and check_version(rebuilt, full=True) == []  # the same bytes, made again


def test_a_damaged_ready_dataset_folder_is_named_not_used(cli, tiny):
    import yaml

    config = yaml.safe_load((tiny / "tiny.yaml").read_text())
    config["dataset"] = "data/tiny"  # a ready folder: recsys cannot rebuild it, it says what to do
    (tiny / "ready.yaml").write_text(yaml.safe_dump(config))
    matrix = (tiny / "data" / "tiny").resolve() / "matrix.npz"
    flip_byte(matrix)
    result = cli("run", "ready.yaml")
    assert result.code == 2 and str(matrix) in result.err and "recsys ingest" in result.err


def test_runs_verify_names_every_damaged_path_and_exits_2(cli, tiny):
    _metrics(cli)  # a run of this copy, which reads this copy's dataset
    assert cli("runs", "verify", "--all").code == 0
    assert cli("runs", "verify", "tiny").code == 0
    model = _stored(tiny, "train/*/models/ials/state.npz")
    flip_byte(model)
    matrix = (tiny / "data" / "tiny").resolve() / "matrix.npz"
    flip_byte(matrix)
    oldest = sorted(p for p in (tiny / "runs" / "tiny").iterdir() if p.is_dir() and not p.is_symlink())[0]
    manifest = oldest / "manifest.json"
    truncate(manifest)
    everything = cli("runs", "verify", "--all")
    assert everything.code == 2
    for path in (model, matrix, manifest, latest_run(tiny) / "models" / "ials" / "state.npz"):
        assert str(path) in everything.out
    one = cli("runs", "verify", str(oldest), "--json")
    assert one.code == 2
    damaged = {d["path"] for d in one.json()["damaged"]}
    assert {str(manifest), str(oldest / "models" / "ials" / "state.npz"), str(model)} <= damaged
    assert cli("runs", "verify").code == 2  # neither a run nor --all


def test_runs_verify_still_names_run_files_that_share_a_set_aside_artifact(cli, tiny):
    old_run = latest_run(tiny)
    flip_byte(_stored(tiny, "train/*/models/ials/state.npz"))
    assert cli("run", "tiny.yaml", "--quiet").code == 0  # sets the artifact aside, retrains
    result = cli("runs", "verify", "--all")
    assert result.code == 2 and str(old_run / "models" / "ials" / "state.npz") in result.out


class TestLargeFiles:
    """Files over LARGE_FILE_BYTES (here: every file) are stat-checked on each reuse and hashed
    when asked, after an unclean stop, or when their modification time changed."""

    @pytest.fixture(autouse=True)
    def everything_is_large(self, monkeypatch):
        monkeypatch.setattr("recsys_cli.core.integrity.LARGE_FILE_BYTES", 0)

    def test_a_changed_modification_time_gets_the_file_hashed(self, cli, tiny):
        model = _stored(tiny, "train/*/models/ials/state.npz")
        flip_byte(model)
        assert f"damaged: {model}" in _metrics(cli).err

    def test_a_same_size_same_time_change_is_found_by_verify(self, cli, tiny):
        model = _stored(tiny, "train/*/models/ials/state.npz")
        flip_byte(model, keep_mtime=True)
        assert "damaged" not in _metrics(cli).err  # the cost that --verify and `runs verify` pay instead
        assert str(model) in cli("runs", "verify", "--all").out
        result = cli("run", "tiny.yaml", "--verify", "--json")
        assert result.code == 0 and f"damaged: {model}" in result.err

    def test_the_first_reuse_after_an_unclean_stop_hashes_everything(self, cli, tiny):
        model = _stored(tiny, "train/*/models/ials/state.npz")
        flip_byte(model, keep_mtime=True)
        (tiny / "runs" / ".store" / ".sessions" / f"{dead_pid()}-1").touch()  # a run killed with SIGKILL
        assert f"damaged: {model}" in _metrics(cli).err


def test_a_resumed_run_checks_the_files_its_finished_stages_left(cli, tiny):
    run = Path(_metrics(cli).json()["path"])  # a run of this copy's config (its paths), to resume
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["status"] = "interrupted"  # as if the run had stopped after its stages
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run.parent / "latest").unlink()
    model = run / "models" / "ials" / "state.npz"
    flip_byte(model)  # the run's file and the store's are one inode
    result = _metrics(cli)
    assert Path(result.json()["path"]) == run  # resumed
    assert "damaged:" in result.err and "state.npz" in result.err
    assert result.json()["stages"]["train/ials"]["reused_from"] is None
