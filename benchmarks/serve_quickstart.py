"""Start-up of `recsys recommend` / `recsys similar` on the quickstart run, against a bare
Python that only imports numpy, scipy.sparse and polars (what any answer needs).

    recsys run configs/quickstart.yaml && python benchmarks/serve_quickstart.py [--repeat 5]

Prints the best wall time of each command over --repeat fresh processes and its ratio to the
bare imports (issue 28's target: at most 1.5x), the load average before and after. The commands
are interleaved (floor, then each command, --repeat rounds) and each ratio is the median over
rounds of the command against the floor of its own round, so a drift of the load between
rounds does not move it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import ROOT, measure_cpu  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    run = ROOT / "runs" / "quickstart"
    if not (run / "latest").exists():
        sys.exit("no quickstart run: recsys run configs/quickstart.yaml first")
    recsys = [sys.executable, "-m", "recsys_cli"]
    commands = {
        "bare imports": [sys.executable, "-c", "import numpy, scipy.sparse, polars"],
        # The same with the exit recsys makes (cli/app.py entry: gc.freeze), for reference: the
        # bare floor's exit walks every object once more, ~0.07 s of its time.
        "bare imports, frozen exit": [sys.executable, "-c", "import numpy, scipy.sparse, polars, gc; gc.freeze()"],
        "recommend (ials; 2 users)": [*recsys, "recommend", str(run), "--user", "17", "--user", "42", "-m", "ials"],
        "recommend (ials, ease; 2 users)": [*recsys, "recommend", str(run), "--user", "17", "--user", "42",
                                            "-m", "ials", "-m", "ease"],
        "recommend (every model)": [*recsys, "recommend", str(run), "--user", "17"],
        "similar (i2i, ials)": [*recsys, "similar", str(run), "--item-name", "Broken Echo #0", "-m", "i2i", "-m", "ials"],
    }
    print(f"best of {args.repeat}, interleaved; load {os.getloadavg()[0]:.2f}")
    runs = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            runs[name].append(measure_cpu(command))
    floor = runs["bare imports"]
    print("x wall, x CPU: the median over rounds of (command / floor of the same round), which a drift of the")
    print("load between rounds does not move; wall s, CPU s: the best of each")
    print(f"{'':34} {'wall s':>7} {'x wall':>7} {'CPU s':>6} {'x CPU':>6} {'peak MiB':>9}")
    for name, figures in runs.items():
        wall, memory, cpu = (min(r[i] for r in figures) for i in range(3))
        x_wall = statistics.median(r[0] / f[0] for r, f in zip(figures, floor))
        x_cpu = statistics.median(r[2] / f[2] for r, f in zip(figures, floor))
        target = "" if name.startswith("bare imports") else "   target <= 1.5x"
        print(f"{name:<34} {wall:7.2f} {x_wall:6.2f}x {cpu:6.2f} {x_cpu:5.2f}x {memory:9.0f}{target}")
    frozen = runs["bare imports, frozen exit"]
    print("against the frozen-exit floor (x wall):", ", ".join(
        f"{name.split(' (')[0]} ({name.split(' (')[1]} {statistics.median(r[0] / f[0] for r, f in zip(figures, frozen)):.2f}x"
        for name, figures in runs.items() if not name.startswith("bare imports")))
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
