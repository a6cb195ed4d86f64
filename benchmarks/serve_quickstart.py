"""Start-up of `recsys recommend` / `recsys similar` on the quickstart run, against a bare
Python that only imports numpy, scipy.sparse and polars (what any answer needs).

    recsys run configs/quickstart.yaml && python benchmarks/serve_quickstart.py [--repeat 5]

Prints the best wall time of each command over --repeat fresh processes and its ratio to the
bare imports (issue 28's target: at most 1.5x), the load average before and after. The pairs
are interleaved (floor, then each command, --repeat times), so a change of load hits all alike.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import ROOT, measure  # noqa: E402


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
            runs[name].append(measure(command))
    base = min(seconds for seconds, _ in runs["bare imports"])
    for name, figures in runs.items():
        seconds, memory = min(s for s, _ in figures), min(m for _, m in figures)
        target = "" if name == "bare imports" else "   target <= 1.5x"
        print(f"{name:<34} {seconds:6.2f} s  {seconds / base:5.2f}x  {memory:6.0f} MiB{target}")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
