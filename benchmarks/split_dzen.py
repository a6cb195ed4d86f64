"""Every split strategy on the Dzen-shape synthetic data set (75,910 x 104,503, ~5.9M likes).

Target (issue 2): seconds, not minutes — vectorised, no per-user Python loop.
Usage: python benchmarks/split_dzen.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import dzen_dataset  # noqa: E402

from recsys_cli.stages import split as split_stage  # noqa: E402

CASES = [
    ("leave-one-random", {"test_users": 0.2}),
    ("random-holdout", {"test_ratio": 0.2}),
    ("temporal", {"before": "2022-12-01"}),
    ("leave-last-out", {"n": 1}),
    ("user-holdout", {"test_users": 0.2}),
]


def main() -> None:
    dataset = dzen_dataset()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'strategy':20s} {'seconds':>8s} {'+validation':>12s}")
        for strategy, params in CASES:
            timings = []
            for validation in (False, True):
                started = time.perf_counter()
                split_stage.split(dataset, strategy, Path(tmp) / f"{strategy}-{validation}", params, validation=validation)
                timings.append(time.perf_counter() - started)
            print(f"{strategy:20s} {timings[0]:8.2f} {timings[1]:12.2f}", flush=True)


if __name__ == "__main__":
    main()
