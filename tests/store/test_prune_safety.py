"""`recsys runs prune` removes only what this store made: never a folder someone else put in the
runs folder, never through a link, never a dataset version the original of a copied runs
folder reads; a prune killed half way leaves no half run, and the next command finishes it.
Output paths the user types (`--plot`) never replace what recsys did not make."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from store_project import copy_project, latest_run


def _run_folders(runs: Path, experiment: str = "tiny") -> list[Path]:
    return sorted(p.parent for p in (runs / experiment).glob("*/.recsys.json") if not p.parent.is_symlink())


def _tree(path: Path) -> dict[str, bytes]:
    """Every file under `path` and its bytes, but the store's identity and session files (a
    copied runs folder takes its own id on first use)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != "store.json" and ".sessions" not in p.parts}


def _listed(cli, *args) -> list[str]:
    result = cli("runs", "list", *args, "--json")
    assert result.code == 0, result.err
    return [row["path"] for row in result.json()]


def test_folders_with_a_manifest_that_the_store_did_not_make_are_no_runs_and_stop_prune(cli, tiny):
    site = tiny / "runs" / "site" / "public"
    extras = tiny / "runs" / "tiny" / "extras"
    for folder in (site, extras):
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({"status": "complete", "run_id": folder.name}))
    before = _tree(tiny / "runs")
    assert not any("site" in p or "extras" in p for p in _listed(cli))
    for args in (["--keep", "0"], ["--keep", "0", "--dry-run"], ["tiny", "--keep", "0"]):
        result = cli("runs", "prune", *args)
        assert result.code == 2 and str(extras) in result.err, args
    assert str(site.parent) in cli("runs", "prune", "--keep", "0").err
    assert _tree(tiny / "runs") == before  # nothing was removed
    shutil.rmtree(extras)
    assert cli("runs", "prune", "tiny", "--keep", "0").code == 0  # `site` is not met when pruning by name
    assert (site / "manifest.json").is_file() and latest_run(tiny).is_dir()


def test_a_run_folder_copied_to_another_place_is_not_this_stores(cli, tiny):
    original = _run_folders(tiny / "runs")[0]
    copy = original.with_name(original.name + "-copy")
    subprocess.run(["cp", "-a", str(original), str(copy)], check=True)
    assert str(copy) not in _listed(cli)
    result = cli("runs", "prune", "--keep", "0")
    assert result.code == 2 and str(copy) in result.err and copy.is_dir() and original.is_dir()


def test_an_artifact_of_another_store_stops_prune(cli, tiny):
    entry = next((tiny / "runs" / ".store" / "train").iterdir())
    record = json.loads((entry / "artifact.json").read_text())
    foreign = entry.with_name("f" * 16)
    foreign.mkdir()
    (foreign / "artifact.json").write_text(json.dumps({**record, "key": foreign.name, "store": "another"}))
    result = cli("runs", "prune", "--keep", "0")
    assert result.code == 2 and str(foreign) in result.err and foreign.is_dir()


def test_prune_never_deletes_through_a_linked_runs_folder_and_keeps_latest(cli, tiny):
    (tiny / "runlink").symlink_to("runs")
    before = _tree(tiny / "runs")
    result = cli("runs", "prune", "--keep", "0", "--runs-dir", "runlink")
    assert result.code == 2 and "runlink" in result.err and "symbolic link" in result.err
    assert _tree(tiny / "runs") == before
    assert len(_listed(cli, "--runs-dir", "runlink")) == 2  # followed for reading
    assert cli("runs", "prune", "--keep", "0").code == 0
    latest = tiny / "runs" / "tiny" / "latest"
    assert latest.resolve().is_dir() and (latest / "manifest.json").is_file()
    assert [p.name for p in _run_folders(tiny / "runs")] == [latest.resolve().name]


def test_a_linked_experiment_folder_is_read_and_never_pruned_through(cli, tiny):
    shared = tiny / "shared" / "team"
    shared.mkdir(parents=True)
    os.rename(tiny / "runs" / "tiny", shared / "tiny")
    (tiny / "runs" / "tiny").symlink_to(Path("..") / "shared" / "team" / "tiny")
    before = _tree(shared)
    assert len(_listed(cli)) == 2
    for args in (["--keep", "0"], ["tiny", "--keep", "0"]):
        result = cli("runs", "prune", *args)
        assert result.code == 2 and "symbolic link" in result.err and str(shared / "tiny") in result.err
    assert _tree(shared) == before
    history = cli("runs", "history", "tiny", "--metric", "mrr@10")
    assert history.code == 0 and not (shared / "tiny" / "history.png").exists()  # the link target is only read


def _with_dataset_seed(project: Path, seed: int) -> None:
    config = yaml.safe_load((project / "tiny.yaml").read_text())
    config["dataset"]["seed"] = seed
    (project / "tiny.yaml").write_text(yaml.safe_dump(config))


def test_pruning_a_copied_runs_folder_never_deletes_the_originals_dataset_versions(cli, tiny):
    _with_dataset_seed(tiny, 8)
    assert cli("run", "tiny.yaml", "--quiet").code == 0  # this project's own run, on a version of its own
    old_version = (tiny / "data" / "tiny").resolve()
    old_run = latest_run(tiny)
    _with_dataset_seed(tiny, 9)
    assert cli("run", "tiny.yaml", "--quiet").code == 0  # the name now points at a new version
    copy_project(tiny / "runs", tiny / "backup")
    copied = cli("runs", "prune", "--keep", "1", "--runs-dir", "backup", "--json")
    assert copied.code == 0 and copied.json()["datasets"] == [] and len(copied.json()["runs"]) == 3
    assert old_version.is_dir()
    identity = json.loads((tiny / "backup" / ".store" / "store.json").read_text())
    original = json.loads((tiny / "runs" / ".store" / "store.json").read_text())
    assert identity["id"] != original["id"] and original["id"] in identity["lineage"]
    user = str(__import__("polars").read_parquet(old_version / "users.parquet")["user_id"][0])
    assert cli("recommend", old_run, "--user", user, "-k", "2").code == 0  # the original's run still answers
    own = cli("runs", "prune", "--keep", "1", "--json")  # the original store removes its own version
    assert own.code == 0 and own.json()["datasets"] == [str(old_version)] and not old_version.exists()


def test_a_moved_runs_folder_keeps_its_id(cli, tiny):
    identity = json.loads((tiny / "runs" / ".store" / "store.json").read_text())
    cli("runs", "list")  # the copy of the fixture takes its own id
    own = json.loads((tiny / "runs" / ".store" / "store.json").read_text())
    assert own["id"] != identity["id"]
    os.rename(tiny / "runs", tiny / "moved")
    cli("runs", "list", "--runs-dir", "moved")
    assert json.loads((tiny / "moved" / ".store" / "store.json").read_text())["id"] == own["id"]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_prune_killed_half_way_leaves_no_half_run_and_the_next_command_finishes_it(cli, tiny, sig):
    assert cli("run", "tiny.yaml", "--quiet", "--force").code == 0  # three runs: prune --keep 1 removes two
    runs = _run_folders(tiny / "runs")
    whole = {p: _tree(p) for p in runs}
    flag = tiny / "first-run-set-aside"
    code = (f"import time\nfrom recsys_cli.store import prune\nreal = prune.set_aside\n"
            f"def slow(path, trash):\n    target = real(path, trash)\n    open({str(flag)!r}, 'w').close()\n"
            f"    time.sleep(120)\n    return target\n"
            f"prune.set_aside = slow\nfrom recsys_cli.cli.app import main\n"
            f"raise SystemExit(main(['runs', 'prune', '--keep', '1']))\n")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=tiny, env=os.environ.copy(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not flag.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert flag.exists(), "the prune never reached its first removal"
    os.kill(process.pid, sig)
    assert process.wait(timeout=60) == (-signal.SIGKILL if sig == signal.SIGKILL else 143)
    trash = tiny / "runs" / ".store" / ".trash"
    listed = [Path(p) for p in _listed(cli)]  # the next command: finishes what was set aside
    assert not trash.exists() or not any(trash.iterdir())
    assert len(listed) == 2 and runs[0] not in listed
    for path in listed:  # every run still listed is whole
        assert _tree(path) == whole[path] and json.loads((path / "manifest.json").read_text())["status"] == "complete"
    assert cli("runs", "prune", "--keep", "1").code == 0 and len(_listed(cli)) == 1


def test_a_runs_folder_from_before_markers_is_adopted_once(cli, tiny):
    runs = tiny / "runs"
    for marker in runs.rglob(".recsys.json"):
        marker.unlink()
    (runs / ".store" / "store.json").unlink()
    for record_path in (runs / ".store").glob("*/*/artifact.json"):
        record = json.loads(record_path.read_text())
        for key in ("digest", "store", "checksums", "format"):
            record.pop(key)
        record_path.write_text(json.dumps(record))
    assert len(_listed(cli)) == 2
    result = cli("run", "tiny.yaml", "--json")
    assert result.code == 0 and "damaged" not in result.err
    assert all(stage.get("reused_from") for name, stage in result.json()["stages"].items() if name.startswith("train/"))
    assert cli("runs", "prune", "--keep", "1").code == 0 and len(_listed(cli)) == 1


def test_run_folders_from_before_the_store_are_listed(cli, tiny):
    runs = tiny / "runs"
    shutil.rmtree(runs / ".store")
    for marker in runs.rglob(".recsys.json"):
        marker.unlink()
    assert len(_listed(cli)) == 2 and cli("runs", "show", "tiny").code == 0


def test_history_and_list_never_take_the_runs_folders_parent_for_an_experiment(cli, tiny):
    for args in (["runs", "history", ".."], ["runs", "list", ".."], ["runs", "prune", "..", "--keep", "0"],
                 ["runs", "history", "tiny/../.."]):
        assert cli(*args).code == 2, args
    assert not (tiny / "history.png").exists() and not (tiny.parent / "history.png").exists()


def test_plot_never_replaces_a_file_or_folder_recsys_did_not_draw(cli, tiny):
    ratings = tiny / "ratings.csv"
    ratings.write_text("user,item\n1,2\n")
    result = cli("runs", "history", "tiny", "--metric", "mrr@10", "--plot", ratings)
    assert result.code == 2 and str(ratings) in result.err and ratings.read_text() == "user,item\n1,2\n"
    folder = tiny / "plots"
    folder.mkdir()
    result = cli("runs", "history", "tiny", "--metric", "mrr@10", "--plot", folder)
    assert result.code == 2 and f"{folder}: is a folder" in result.err and list(folder.iterdir()) == []
    (tiny / "link.png").symlink_to(ratings)
    assert cli("runs", "history", "tiny", "--metric", "mrr@10", "--plot", tiny / "link.png").code == 2
    plot = folder / "h.png"
    for _ in range(2):  # written, then replaced: it is ours
        assert cli("runs", "history", "tiny", "--metric", "mrr@10", "--plot", plot).code == 0
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_prune_frees_the_damaged_artifacts_only_pruned_runs_still_link(cli, tiny):
    """A stored model found damaged is set aside in .store/.damaged (kept for inspection) while
    runs link its file; once prune removes those runs, it removes the set-aside copy too."""
    from store_project import flip_byte

    model = next((tiny / "runs" / ".store" / "train").glob("*/models/ials/state.npz"))
    flip_byte(model)  # the two runs' hard links see it too
    assert cli("run", "tiny.yaml", "--quiet", "--force").code == 0  # sets the artifact aside, retrains
    damaged = tiny / "runs" / ".store" / ".damaged"
    aside = [p for p in damaged.iterdir() if p.is_dir()]
    assert aside and any(p.name.startswith("train-") for p in aside)
    planned = cli("runs", "prune", "--keep", "1", "--dry-run", "--json").json()
    assert {str(p) for p in aside} <= set(planned["artifacts"])
    done = cli("runs", "prune", "--keep", "1")
    assert done.code == 0, done.err
    assert not [p for p in damaged.iterdir() if p.is_dir()]
    verified = cli("runs", "verify", "tiny")
    assert verified.code == 0, verified.out + verified.err  # the kept run is whole
