"""What confirming the keep-defaults test on more folds costs against a trial (issue 27).

tuning/selection.py scores the defaults and the best trial on two more seeded validation
folds when that is cheap. This prints, per model, the seconds of one trial (a fit on the
validation part's train and its scoring), of drawing the two extra folds, and of the four
confirming fits (defaults and best on each fold, the best stood in for by the defaults), and
their ratio to a trial. Run it on the data sets benchmarks/nested_tuning.py ingested.

Usage: python benchmarks/confirm_cost.py [--models ease,ials-rendle]
       [--datasets ml-latest-small-ge4,synthetic-ml1m]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH  # noqa: E402

from recsys_cli.data.folds import extra_folds  # noqa: E402
from recsys_cli.data.split_folder import load_split  # noqa: E402
from recsys_cli.evaluation.evaluate import evaluate  # noqa: E402
from recsys_cli.models.registry import build_model  # noqa: E402
from recsys_cli.stages import split as split_stage  # noqa: E402


def scored_fit(model_type: str, fold: tuple) -> float:
    """Seconds of one trial's work on `fold`: a fit of the defaults and their MRR@100."""
    started = time.perf_counter()
    model = build_model(model_type, {}, seed=42, threads=0)
    model.fit(fold[0])
    evaluate(model, fold[0], fold[1], fold[2], [100], ["mrr"], fold_in=fold[3], bootstrap=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ease,ials-rendle")
    parser.add_argument("--datasets", default="ml-latest-small-ge4,synthetic-ml1m")
    args = parser.parse_args()
    for name in args.datasets.split(","):
        params = {"test_users": 0.2}
        result = split_stage.split(BENCH / name, "leave-one-random", None, params, seed=42, validation=True)
        split = load_split(result.path)
        validation = split.validation()
        started = time.perf_counter()
        folds = extra_folds(split.train, "leave-one-random", params, 42, 3)
        draw = time.perf_counter() - started
        print(f"{name}: {split.train.shape[0]:,} x {split.train.shape[1]:,}, {split.train.nnz:,} train likes; "
              f"drawing 2 extra validation folds {draw:.2f} s")
        for model_type in args.models.split(","):
            trial = scored_fit(model_type, validation)
            confirming = 2 * sum(scored_fit(model_type, fold) for fold in folds)
            print(f"  {model_type:12s} trial {trial:6.1f} s   4 confirming fits {confirming:6.1f} s + draw "
                  f"= {(confirming + draw) / trial:4.1f} trials")


if __name__ == "__main__":
    main()
