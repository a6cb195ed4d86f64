"""Shared helpers for the benchmark scripts: timing a command in its own process, and the
Dzen-shape data set they run on (written once under data/bench/, which git ignores)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "data" / "bench"

MEASURE = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


MEASURE_CPU = MEASURE.replace(
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime)")


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of `command`, run in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], check=True, capture_output=True, text=True)
    seconds, peak_kib = out.stdout.split()
    return float(seconds), int(peak_kib) / 1024


def measure_cpu(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak resident memory (MiB) and CPU seconds (user + system, every thread) of
    `command` in a fresh process: on a loaded machine the CPU time is the steadier figure."""
    out = subprocess.run([sys.executable, "-c", MEASURE_CPU, *command], check=True, capture_output=True, text=True)
    seconds, peak_kib, cpu = out.stdout.split()
    return float(seconds), int(peak_kib) / 1024, float(cpu)


def best_of(command: list[str], repeat: int) -> tuple[float, float]:
    runs = [measure(command) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def dzen_dataset() -> Path:
    """The synthetic `dzen` preset ingested as a dataset folder (75,910 x 104,503, ~5.9M likes)."""
    out = BENCH / "dzen-synthetic"
    sys.path.insert(0, str(ROOT))
    from recsys_cli.stages import ingest as ingest_stage

    ingest_stage.ingest("synthetic", None, out, {"preset": "dzen", "seed": 42})
    return out


def dzen_csv() -> Path:
    """A zen_ratings.csv in the published layout (user_id, "[i1, i2, ...]") from the dzen preset."""
    folder = BENCH / "zen"
    target = folder / "zen_ratings.csv"
    if target.exists():
        return folder
    import polars as pl

    events = pl.read_parquet(dzen_dataset() / "events.parquet")
    lists = (
        events.group_by("user_idx", maintain_order=True)
        .agg(pl.col("item_idx").cast(pl.String).str.join(", "))
        .select(
            (pl.col("user_idx").cast(pl.Int64) * 7_919_000_003 + 1_000_000_000_000).alias("user_id"),
            pl.format("[{}]", "item_idx").alias("item_ids"),
        )
    )
    folder.mkdir(parents=True, exist_ok=True)
    lists.write_csv(target)
    return folder


def report(rows: list[tuple[str, float, float]], baseline: str) -> None:
    base = {name: (s, m) for name, s, m in rows}[baseline]
    print(f"{'':34s} {'wall s':>8s} {'peak MiB':>9s} {'x wall':>7s} {'x mem':>6s}")
    for name, seconds, mib in rows:
        print(f"{name:34s} {seconds:8.2f} {mib:9.0f} {seconds / base[0]:7.2f} {mib / base[1]:6.2f}")
    sys.stdout.flush()


