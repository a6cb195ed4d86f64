"""Dataset versions are immutable: the user's `--out` name is a link to a stored version,
another ingest makes a new version (old readers and their splits are untouched), earlier
options find their version again, and prune removes only versions nothing uses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_cli.core.atomic import DATA_STORE_DIR
from recsys_cli.data import sources
from recsys_cli.data.dataset_lock import dataset_lock
from recsys_cli.data.dataset_store import remove_if_idle, versions_dir

RECSYS = [sys.executable, "-m", "recsys_cli"]


def _ingest(cli, out: Path, seed: int = 1, *extra) -> Path:
    result = cli("ingest", "synthetic", "--out", out, "--seed", seed, "--quiet", *extra)
    assert result.code == 0, result.err
    return out.resolve()


def _stored(name: Path) -> list[Path]:
    """The stored versions (hidden entries are lock files and temporary folders)."""
    return [p for p in versions_dir(name).iterdir() if not p.name.startswith(".")]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_name_is_a_relative_link_to_a_version_in_the_store_beside_it(cli, tmp_path):
    version = _ingest(cli, tmp_path / "data" / "ds")
    link = tmp_path / "data" / "ds"
    assert link.is_symlink() and not os.readlink(link).startswith("/")
    assert version.parent == tmp_path / "data" / DATA_STORE_DIR / "datasets" and version.name.startswith("ds-")
    moved = tmp_path / "moved"
    shutil.move(tmp_path / "data", moved)  # a relative link moves with its store
    assert (moved / "ds" / "dataset.json").is_file()


def test_another_ingest_makes_a_new_version_and_leaves_the_old_one_and_its_splits(cli, tmp_path):
    name = tmp_path / "ds"
    first = _ingest(cli, name, 1)
    assert cli("split", name, "--strategy", "leave-one-random", "--quiet").code == 0
    before = _files(first)
    second = _ingest(cli, name, 2)
    assert second != first and name.resolve() == second
    assert _files(first) == before  # a run reading the first version sees nothing change
    assert any((first / "splits").iterdir())


def test_force_keeps_the_identical_version_and_its_splits(cli, tmp_path):
    name = tmp_path / "ds"
    first = _ingest(cli, name)
    split = cli("split", name, "--strategy", "leave-one-random", "--json").json()["path"]
    assert _ingest(cli, name, 1, "--force") == first
    assert (Path(split) / "split.json").is_file()
    assert len(_stored(name)) == 1


def test_earlier_options_find_their_version_without_reading_the_source(cli, tmp_path, monkeypatch):
    name = tmp_path / "ds"
    first = _ingest(cli, name, 1)
    _ingest(cli, name, 2)

    def no_parsing(*args, **kwargs):
        raise AssertionError("the source was parsed again")

    monkeypatch.setattr(sources, "reader", lambda fmt: no_parsing)
    result = cli("ingest", "synthetic", "--out", name, "--seed", 1, "--json")
    assert result.code == 0, result.err
    assert result.json()["skipped"] and name.resolve() == first


def test_a_legacy_dataset_folder_moves_into_the_store_with_its_splits(cli, tmp_path):
    name = tmp_path / "ds"
    version = _ingest(cli, name, 1)
    assert cli("split", name, "--strategy", "leave-one-random", "--quiet").code == 0
    name.unlink()  # the layout of earlier recsys versions: a real folder at the name
    shutil.copytree(version, name)
    shutil.rmtree(version)
    legacy = _files(name)
    assert cli("ingest", "synthetic", "--out", name, "--seed", 1, "--json").json()["skipped"]
    assert not name.is_symlink()  # an up-to-date legacy folder is read as it is
    _ingest(cli, name, 2)
    assert name.is_symlink()
    moved = [v for v in _stored(name) if v != name.resolve()]
    assert len(moved) == 1 and _files(moved[0]) == legacy


def test_split_names_are_links_and_other_parameters_never_overwrite_a_split(cli, tmp_path):
    name = tmp_path / "ds"
    _ingest(cli, name)
    mine = tmp_path / "mine"
    plain = cli("split", name, "--strategy", "leave-one-random", "--out", mine, "--json").json()
    assert mine.is_symlink() and mine.resolve() == Path(plain["path"]) and plain["link"] == str(mine)
    carved = cli("split", name, "--strategy", "leave-one-random", "--validation", "--out", mine, "--json").json()
    assert carved["path"] != plain["path"] and mine.resolve() == Path(carved["path"])
    assert not (Path(plain["path"]) / "valid.npz").exists() and (Path(carved["path"]) / "valid.npz").exists()


def test_a_foreign_link_is_still_refused(cli, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    result = cli("ingest", "synthetic", "--out", tmp_path / "link")
    assert result.code == 2 and "symbolic link" in result.err
    assert not any((tmp_path / "elsewhere").iterdir())


def test_concurrent_ingests_of_the_same_data_store_one_version(tmp_path):
    argv = [*RECSYS, "ingest", "synthetic", "--out", str(tmp_path / "ds"), "--quiet"]
    processes = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    stored = _stored(tmp_path / "ds")
    assert len(stored) == 1 and (tmp_path / "ds").resolve() == stored[0]


PRUNED = """
name: p
dataset: {format: synthetic, preset: small, out: data/ds, seed: SEED}
split: {strategy: leave-one-random, test_users: 0.2}
models: [{name: pop, type: popular}]
metrics: {k: [10]}
export: {recommendations: 0, similar: 0}
"""


def test_prune_removes_the_versions_only_pruned_runs_read(cli, project):
    versions = []
    for seed in (1, 2, 3):
        (project / "p.yaml").write_text(PRUNED.replace("SEED", str(seed)))
        assert cli("run", "p.yaml", "--quiet").code == 0
        versions.append((project / "data" / "ds").resolve())
    (project / "data" / "old").symlink_to(versions[0] / "splits")  # a name made beside the store, into version 1
    plan = cli("runs", "prune", "p", "--keep", "1", "--dry-run", "--json").json()
    assert plan["datasets"] == [str(versions[1])]
    with dataset_lock(versions[1], exclusive=False):  # a run is reading it: prune leaves it
        assert not remove_if_idle(versions[1])
    (project / "data" / "again").symlink_to(versions[1])  # named after the plan was made (an ingest)
    assert not remove_if_idle(versions[1]) and versions[1].exists()
    (project / "data" / "again").unlink()
    done = cli("runs", "prune", "p", "--keep", "1", "--json").json()
    assert done["datasets"] == [str(versions[1])]
    assert not versions[1].exists() and versions[0].exists() and versions[2].exists()


@pytest.mark.parametrize("marker", ["dataset.json", "split.json"])
def test_only_links_into_our_store_count_as_ours(tmp_path, marker):
    from recsys_cli.core.atomic import is_our_link

    target = tmp_path / "real"
    target.mkdir()
    (target / marker).write_text("{}")
    (tmp_path / "link").symlink_to(target)
    assert not is_our_link(tmp_path / "link", marker)


def test_a_run_still_answers_after_its_dataset_name_moved_on(cli, project):
    import json

    (project / "p.yaml").write_text(PRUNED.replace("SEED", "1"))
    run = Path(cli("run", "p.yaml", "--json").json()["path"])
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["stages"]["ingest"]["dataset"] = "data/ds"  # as runs made before versions recorded it
    (run / "manifest.json").write_text(json.dumps(manifest))
    _ingest(cli, project / "data" / "ds", 2)  # the name now points at another version
    answer = cli("recommend", run, "--user", "1", "--json")
    assert answer.code == 0, answer.err
    assert cli("compare", run, "--anchors", "5", "--k", "3", "--json").code == 0


def test_naming_the_split_folder_itself_leaves_it_a_folder(cli, tmp_path):
    name = tmp_path / "ds"
    _ingest(cli, name)
    folder = Path(cli("split", name, "--strategy", "leave-one-random", "--json").json()["path"])
    again = cli("split", name, "--strategy", "leave-one-random", "--out", name / "splits" / folder.name, "--json")
    assert again.code == 0 and again.json()["skipped"]
    assert folder.is_dir() and not folder.is_symlink() and (folder / "split.json").is_file()


def test_a_stored_version_is_no_output_name(cli, tmp_path):
    version = _ingest(cli, tmp_path / "ds")
    before = _files(version)
    result = cli("ingest", "synthetic", "--out", version, "--seed", 5)
    assert result.code == 2 and "dataset store" in result.err
    assert _files(version) == before
