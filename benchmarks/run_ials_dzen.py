"""`recsys run` of iALS + MRR@100 on the Dzen-shape synthetic data against a bare script.

The bare script loads the same train/test npz, fits implicit's ALS (64 factors, 15
iterations), makes one batched `recommend` with seen items filtered and computes MRR@100
with numpy. `recsys run` does the same through its stages, plus a bootstrap interval,
per-user metrics, the saved model, metrics files, manifest and report, and its default
export (no `export:` block: the test users' top-100; similar items are opt-in). Targets
(issues 3, 13 and 28): at most 1.10x the wall time and 1.5x the peak memory. Each run gets a
fresh runs folder, so nothing is reused. `recsys run` is measured twice: as it is (HTML report
on), and with the HTML report's stage patched out (everything else as the default run), which
tells the report's share apart. CPU seconds (user + system, all threads) are printed too: on
a loaded machine they vary less than the wall time.

Usage: python benchmarks/run_ials_dzen.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH, dzen_dataset, measure_cpu, report  # noqa: E402

BARE = """
import sys, numpy as np, scipy.sparse as sp
from threadpoolctl import threadpool_limits
from implicit.cpu.als import AlternatingLeastSquares
train = sp.load_npz(sys.argv[1] + "/train.npz").tocsr()
test = sp.load_npz(sys.argv[1] + "/test.npz").tocsr()
with threadpool_limits(1, "blas"):
    model = AlternatingLeastSquares(factors=64, regularization=0.05, alpha=10.0, iterations=15, random_state=42)
    model.fit(train, show_progress=False)
users = np.flatnonzero(np.diff(test.indptr))
ids, _ = model.recommend(users, train[users], N=100, filter_already_liked_items=True)
target = test[users].indices  # one held-out like per test user
hit = ids == target[:, None]
mrr = np.where(hit.any(1), 1.0 / (hit.argmax(1) + 1), 0.0).mean()
print(mrr)
"""


NO_HTML_REPORT = """
import sys
from recsys_cli.stages import report
report.html_report = lambda *args, **kwargs: None  # the HTML report's stage only; report.md and the export stay
from recsys_cli.cli.app import main
sys.exit(main(sys.argv[1:]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    from recsys_cli.stages import split as split_stage

    dataset = dzen_dataset()
    split = BENCH / "dzen-split"
    split_stage.split(dataset, "leave-one-random", split, {"test_users": 0.2}, seed=42)
    config = BENCH / "ials-dzen.yaml"
    config.write_text(yaml.safe_dump({
        "name": "ials-dzen", "dataset": str(dataset), "split": {"path": str(split)},
        "models": [{"name": "ials", "type": "ials",
                    "params": {"factors": 64, "regularization": 0.05, "alpha": 10, "iterations": 15}}],
        "metrics": {"k": [100], "names": ["mrr"]},
    }))
    print(f"dataset {dataset.name}, split leave-one-random 20% of users, best of {args.repeat}; "
          f"load {os.getloadavg()[0]:.2f}")
    commands = {"recsys run (ials, default export)": [sys.executable, "-m", "recsys_cli"],
                "recsys run, HTML report patched out": [sys.executable, "-c", NO_HTML_REPORT]}
    figures = {"bare implicit + numpy script": []} | {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeat):  # interleaved: a change of load hits every variant alike
            figures["bare implicit + numpy script"].append(measure_cpu([sys.executable, "-c", BARE, str(split)]))
            for variant, (name, command) in enumerate(commands.items()):
                runs = f"{tmp}/runs-{variant}-{attempt}"  # a fresh runs folder (and artifact store) each
                figures[name].append(measure_cpu([*command, "run", str(config), "--runs-dir", runs, "--quiet"]))
    best = {name: tuple(min(r[i] for r in rows) for i in range(3)) for name, rows in figures.items()}
    report([(name, *values[:2]) for name, values in best.items()], baseline="bare implicit + numpy script")
    bare = best["bare implicit + numpy script"]
    for name in commands:
        ours = best[name]
        print(f"{name}: wall {ours[0] / bare[0]:.2f}x (target <= 1.10x), memory {ours[1] / bare[1]:.2f}x "
              f"(target <= 1.5x); CPU {ours[2]:.0f} s vs {bare[2]:.0f} s = {ours[2] / bare[2]:.2f}x")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
