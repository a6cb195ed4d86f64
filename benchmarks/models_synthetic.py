"""Train time and MRR@100 of every model in configs/more-models.yaml on the synthetic data
(issue 6's benchmark line per model; rerank against its best generator).

Usage: python benchmarks/models_synthetic.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT  # noqa: E402

from recsys_cli.run import run_experiment  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as runs:
        summary = run_experiment(ROOT / "configs" / "more-models.yaml", Path(runs))
    print(f"{'model':10s} {'train s':>8s} {'mrr@100':>8s} {'ndcg@100':>9s}")
    for name, metrics in summary["metrics"].items():
        seconds = summary["stages"][f"train/{name}"]["seconds"]
        print(f"{name:10s} {seconds:8.2f} {metrics['mrr@100']:8.4f} {metrics['ndcg@100']:9.4f}")


if __name__ == "__main__":
    main()
