"""What an unchanged re-run of the quickstart costs: wall time and bytes written.

A first `recsys run configs/quickstart.yaml` into a fresh runs folder, then the same command
twice more. Bytes written by a re-run = growth of the runs folder on disk, each inode counted
once (run folders hard-link their artifacts from runs/.store, so a re-run adds only its
manifest, config, metrics and report).

Usage: python benchmarks/rerun_quickstart.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from common import ROOT, measure


def disk_bytes(folder: Path) -> int:
    seen, total = set(), 0
    for f in folder.rglob("*"):
        if f.is_file() and not f.is_symlink():
            info = f.stat()
            if info.st_ino not in seen:
                seen.add(info.st_ino)
                total += info.st_size
    return total


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="rerun-"))
    try:
        shutil.copytree(ROOT / "configs", work / "configs")
        runs = work / "runs"
        command = [sys.executable, "-m", "recsys_cli", "run", str(work / "configs" / "quickstart.yaml"),
                   "--runs-dir", str(runs), "--quiet"]
        import os

        os.chdir(work)
        first_seconds, _ = measure(command)
        after_first = disk_bytes(runs)
        rerun = []
        for _ in range(2):
            before = disk_bytes(runs)
            seconds, _ = measure(command)
            rerun.append((seconds, disk_bytes(runs) - before))
        print(f"{'':28s} {'wall s':>8s} {'bytes written':>14s}")
        print(f"{'first run':28s} {first_seconds:8.2f} {after_first:14,d}")
        for index, (seconds, written) in enumerate(rerun, 1):
            print(f"{f'unchanged re-run {index}':28s} {seconds:8.2f} {written:14,d}")
        print(f"runs folder after 3 runs: {disk_bytes(runs):,d} bytes ({after_first / max(disk_bytes(runs), 1):.2f} of it from the first run)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
