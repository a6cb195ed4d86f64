"""A small finished project (a dataset, a runs folder with its store) that the store tests copy
and then damage, prune or link in the ways a hostile user would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

TINY = """name: tiny
dataset: {format: synthetic, preset: small, seed: 7, debug_slice: [0.3, 0.3], out: data/tiny}
split: {strategy: leave-one-random, test_users: 0.2, seed: 42, validation: true}
models:
  - {name: pop, type: popular}
  - {name: i2i, type: item-knn, params: {similarity: cosine, neighbors: 20}}
  - {name: ials, type: ials, params: {factors: 8, iterations: 3},
     tune: {trials: 2, metric: mrr@10}}
metrics: {k: [10], names: [mrr, recall]}
export: {recommendations: 5, similar: 3}
seed: 42
threads: 1
"""


def copy_project(source: Path, target: Path) -> Path:
    """A copy made as `cp -a` makes it: hard links between run folders and the store kept."""
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return target


def flip_byte(path: Path, keep_mtime: bool = False) -> None:
    """Flip one bit in the middle of a file, in place (every hard link sees it)."""
    import os

    info = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(info.st_size // 2)
        byte = handle.read(1)
        handle.seek(info.st_size // 2)
        handle.write(bytes([byte[0] ^ 0x01]))
    if keep_mtime:
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    with open(path, "r+b") as handle:
        handle.truncate(int(len(data) * keep))


def latest_run(project: Path, name: str = "tiny") -> Path:
    return (project / "runs" / name / "latest").resolve()


def dead_pid() -> int:
    """The pid of a process that has just ended."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """Two runs of the tiny experiment (the second reuses everything), made once per session."""
    from recsys_cli.cli.app import main

    folder = tmp_path_factory.mktemp("tiny-base")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        (folder / "tiny.yaml").write_text(TINY)
        assert main(["run", "tiny.yaml", "--quiet"]) == 0
        assert main(["run", "tiny.yaml", "--quiet", "--force"]) == 0  # a second run folder
    return folder


@pytest.fixture
def tiny(tiny_base, tmp_path, monkeypatch):
    """A copy of the tiny project of this test's own (the working directory)."""
    project = copy_project(tiny_base, tmp_path / "project")
    monkeypatch.chdir(project)
    return project
