"""What an unchanged re-run of the quickstart costs, against the CLI's import time.

A first `recsys run configs/quickstart.yaml --quiet` into a fresh runs folder; then, in
rounds, the CLI's import (`python -c "import recsys_cli.cli.app"`, the floor), an unchanged
re-run (answered by the latest run: store/replay.py) and a `--force` re-run (a new run folder
whose stages all come from the store). Each figure is the best over the rounds; the ratio is
the re-run against the floor (issue 28's target: <= 4x). Bytes written = growth of the runs
folder on disk, each inode counted once.

Usage: python benchmarks/rerun_quickstart.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rerun-"))
    try:
        shutil.copytree(ROOT / "configs", work / "configs")
        runs = work / "runs"
        os.chdir(work)
        command = [sys.executable, "-m", "recsys_cli", "run", str(work / "configs" / "quickstart.yaml"),
                   "--runs-dir", str(runs), "--quiet"]
        floor_command = [sys.executable, "-c", "import recsys_cli.cli.app"]
        first_seconds, _ = measure(command)
        after_first = disk_bytes(runs)
        figures = {"floor": [], "rerun": [], "forced": []}
        written = {"rerun": 0, "forced": 0}
        for _ in range(args.rounds):
            figures["floor"].append(measure(floor_command)[0])
            for kind, extra in (("rerun", []), ("forced", ["--force"])):
                before = disk_bytes(runs)
                figures[kind].append(measure(command + extra)[0])
                written[kind] = disk_bytes(runs) - before
        floor = min(figures["floor"])
        print(f"load average {os.getloadavg()[0]:.1f}; best of {args.rounds} rounds")
        print(f"{'':44s} {'wall s':>8s} {'x import':>9s} {'bytes written':>14s}")
        print(f"{'CLI import (python -c import recsys_cli.cli.app)':44s} {floor:8.3f} {1:9.2f} {'':>14s}")
        print(f"{'first run':44s} {first_seconds:8.2f} {first_seconds / floor:9.1f} {after_first:14,d}")
        print(f"{'unchanged re-run (answered by latest)':44s} {min(figures['rerun']):8.3f} "
              f"{min(figures['rerun']) / floor:9.2f} {written['rerun']:14,d}")
        print(f"{'--force re-run (a new run from the store)':44s} {min(figures['forced']):8.3f} "
              f"{min(figures['forced']) / floor:9.2f} {written['forced']:14,d}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
