"""sparse-ease against dense EASE on one validation split: fit time, peak memory (resident set
growth during the fit, this process) beside the memory sparse-ease states before fitting, and
validation MRR@100 (issue 27). Run each model in its own process, so peaks do not mix:

    python benchmarks/sparse_ease_memory.py ml-small-all sparse-ease
    python benchmarks/sparse_ease_memory.py ml-small-all ease

Data sets and split as benchmarks/model_defaults.py (ml-small-all's 9,066 items take
sparse-ease's blockwise path, beyond the 8,192-item union budget).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.model_defaults import validation  # noqa: E402


def main() -> None:
    name, model_type = sys.argv[1], sys.argv[2]
    from recsys_cli.evaluation.evaluate import evaluate
    from recsys_cli.models.registry import build_model

    train, valid, history = validation(name)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    model = build_model(model_type, {}).fit(train)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stated = model.report_details().get("estimate", {}).get("peak_bytes", 0) / 2**20
    mrr = evaluate(model, train, valid, history, [100], ["mrr"], bootstrap=False).summary["mrr@100"]
    print(f"{name} {model_type}: {train.shape[1]:,} items, fit {seconds:.1f} s, peak RSS growth {peak - before:.0f} MiB, "
          f"stated {stated:.0f} MiB, validation MRR@100 {mrr:.4f}")


if __name__ == "__main__":
    main()
