"""EASE on a catalogue of about 4,000 items (issue 3: "in seconds").

The top 4,000 items of the Dzen-shape synthetic data and 30% of its users (a debug slice),
split leave-one-random; prints the fit time, the evaluation time and MRR@100 next to
popularity's.

Usage: python benchmarks/ease_4k.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH  # noqa: E402

from recsys_cli.stages import ingest as ingest_stage  # noqa: E402
from recsys_cli.stages import split as split_stage  # noqa: E402
from recsys_cli.data.split_folder import load_split  # noqa: E402
from recsys_cli.data.filters import IngestFilters  # noqa: E402
from recsys_cli.evaluation.evaluate import evaluate  # noqa: E402
from recsys_cli.models.registry import build_model  # noqa: E402


def main() -> None:
    dataset = ingest_stage.ingest("synthetic", None, BENCH / "dzen-4k", {"preset": "dzen", "seed": 42},
                              IngestFilters(debug_slice=(4000 / 104_503, 0.3))).path
    split = load_split(split_stage.split(dataset, "leave-one-random", BENCH / "dzen-4k-split", {"test_users": 0.2}).path)
    print(f"{split.train.shape[0]:,} users x {split.train.shape[1]:,} items, {split.train.nnz:,} train interactions")
    for model_type, params in (("ease", {"l2": 300}), ("popular", {})):
        started = time.perf_counter()
        model = build_model(model_type, params).fit(split.train)
        fitted = time.perf_counter()
        result = evaluate(model, split.train, split.test, split.history, [100], ["mrr"])
        done = time.perf_counter()
        print(f"{model_type:8s} fit {fitted - started:6.2f}s  evaluate {done - fitted:5.2f}s  "
              f"({len(result.users):,} users)  mrr@100 {result.summary['mrr@100']:.4f}")


if __name__ == "__main__":
    main()
