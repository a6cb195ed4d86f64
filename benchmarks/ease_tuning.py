"""EASE before/after (issue 13): the float64 inverse per l2 that EASE used to do, against
today's float32 direct inverse (one fit) and the cached eigendecomposition (a tuning study:
one decomposition, then each l2 a rescale and one product).

Each mode runs in its own process (wall seconds and peak memory). Data: the Dzen-shape
synthetic preset cut to its top ITEMS items and 30% of users.

Usage: python benchmarks/ease_tuning.py [--items 8000] [--fits 20]
       (issue 13's sizes: --items 8000 and --items 17632; minutes each on 2 cores)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH, measure  # noqa: E402

MODE = """
import sys, time, numpy as np, scipy.sparse as sp
from recsys_cli.models import ease
mode, path, fits = sys.argv[1], sys.argv[2], int(sys.argv[3])
train = sp.load_npz(path).tocsr()
l2s = np.geomspace(10, 3000, fits)
if mode == "before":  # the previous implementation: float64 Gram and inverse, every fit
    for l2 in l2s:
        binary = (train > 0).astype(np.float64)
        gram = (binary.T @ binary).toarray()
        gram[np.diag_indices_from(gram)] += l2
        inverse = np.linalg.inv(gram)
        del gram
        weights = inverse / (-np.diag(inverse))
        weights[np.diag_indices_from(weights)] = 0.0
        weights = weights.astype(np.float32)
        del inverse
elif mode == "direct":
    for l2 in l2s:
        ease.EASE({"l2": l2}).fit(train)
else:
    ease.EASE.expect_fits(train, ease.EIGEN_BREAK_EVEN)
    for l2 in l2s:
        assert ease.EASE({"l2": l2}).fit(train).solver == "eigen (cached)"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8000)
    parser.add_argument("--fits", type=int, default=20)
    args = parser.parse_args()
    from recsys_cli.stages import ingest as ingest_stage
    from recsys_cli.stages import split as split_stage
    from recsys_cli.data.filters import IngestFilters

    name = f"dzen-ease-{args.items}"
    dataset = ingest_stage.ingest("synthetic", None, BENCH / name, {"preset": "dzen", "seed": 42},
                              IngestFilters(debug_slice=(args.items / 104_503, 0.3))).path
    split = split_stage.split(dataset, "leave-one-random", BENCH / f"{name}-split", {"test_users": 0.2}).path
    train = split / "train.npz"
    print(f"EASE on {args.items:,} items (dzen slice), seconds and peak MiB per process")
    print(f"{'mode':28s} {'fits':>5s} {'wall s':>8s} {'s/fit':>7s} {'peak MiB':>9s}")
    rows = {}
    for mode, fits in (("before", 1), ("direct", 1), ("before", args.fits), ("direct", args.fits), ("eigen", args.fits)):
        seconds, mib = measure([sys.executable, "-c", MODE, mode, str(train), str(fits)])
        rows[mode, fits] = seconds
        print(f"{mode:28s} {fits:5d} {seconds:8.1f} {seconds / fits:7.2f} {mib:9.0f}")
        sys.stdout.flush()
    print(f"one fit: {rows['before', 1] / rows['direct', 1]:.2f}x faster; {args.fits} fits (a study): "
          f"{rows['before', args.fits] / min(rows['direct', args.fits], rows['eigen', args.fits]):.2f}x faster")


if __name__ == "__main__":
    main()
