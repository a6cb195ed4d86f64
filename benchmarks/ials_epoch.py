"""Seconds per epoch of iALS-Rendle against implicit's iALS (the same CG steps, the same
factors), the issue's "an epoch costs what implicit's does".

Both are fitted on the same data for a few epochs after one warm-up epoch (numba compiles
on first use), with the same threads; the figure is the median epoch. iALS-Rendle's CG
runs blocks of rows in lockstep so the Gramian part is a BLAS product; implicit's CPU CG
loops row by row.

Data: the synthetic `ml1m` preset (6,040 x 3,706, ~1M likes) by default, or `--preset dzen`
(75,910 x 104,503, 5.9M likes).

Usage: python benchmarks/ials_epoch.py [--preset ml1m] [--factors 64,128,512] [--epochs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH  # noqa: E402

from recsys_cli.data.dataset import Dataset  # noqa: E402
from recsys_cli.models.registry import build_model  # noqa: E402
from recsys_cli.stages import ingest as ingest_stage  # noqa: E402


def epoch_seconds(model_type: str, params: dict, train, epochs: int, threads: int) -> float:
    """The median of `epochs` epoch times, after one warm-up fit of one epoch."""
    build_model(model_type, {**params, "iterations": 1}, threads=threads).fit(train)
    times: list[float] = []
    model = build_model(model_type, {**params, "iterations": epochs}, threads=threads)
    model.fit(train, callback=lambda iteration, seconds, loss: times.append(seconds))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ml1m")
    parser.add_argument("--factors", default="64,128,512")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    folder = BENCH / f"{args.preset}-synthetic"
    ingest_stage.ingest("synthetic", None, folder, {"preset": args.preset, "seed": 42})
    train = Dataset.open(folder).matrix
    print(f"synthetic {args.preset}: {train.shape[0]:,} x {train.shape[1]:,}, {train.nnz:,} likes, "
          f"{args.threads} threads, median of {args.epochs} epochs")
    print(f"{'factors':>7s} {'implicit s/epoch':>16s} {'ials-rendle s/epoch':>19s} {'ratio':>6s}")
    for factors in [int(f) for f in args.factors.split(",")]:
        bare = epoch_seconds("ials", {"factors": factors}, train, args.epochs, args.threads)
        ours = epoch_seconds("ials-rendle", {"factors": factors, "cg_steps": 3}, train, args.epochs, args.threads)
        print(f"{factors:7d} {bare:16.2f} {ours:19.2f} {ours / bare:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
