"""`recsys ingest dzen` on a 5.9M-like zen_ratings.csv against a bare script.

The bare script is what a notebook does: read the CSV with polars, parse the list strings,
build the CSR with scipy and save it with save_npz. The target (issue 2): at most 2x its wall
time and 2x its peak memory, for the whole `recsys` process — which also writes
events.parquet, the id maps, item metadata and dataset.json, and hashes the source.

Usage: python benchmarks/ingest_dzen.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import best_of, dzen_csv, report  # noqa: E402

BARE = """
import sys
import numpy as np, polars as pl, scipy.sparse as sp
frame = pl.read_csv(sys.argv[1])
likes = frame.select(
    pl.col("user_id"),
    pl.col("item_ids").str.strip_chars("[]").str.split(", ").cast(pl.List(pl.Int64)).alias("item"),
).explode("item").drop_nulls()
users, user_idx = np.unique(likes["user_id"].to_numpy(), return_inverse=True)
items = likes["item"].to_numpy()
matrix = sp.csr_matrix((np.ones(len(items), dtype=np.float32), (user_idx, items)))
sp.save_npz(sys.argv[2], matrix)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = dzen_csv()
    size_mb = (folder / "zen_ratings.csv").stat().st_size / 2**20
    print(f"zen_ratings.csv: {size_mb:.0f} MiB, best of {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        bare = best_of([sys.executable, "-c", BARE, str(folder / "zen_ratings.csv"), f"{tmp}/bare.npz"], args.repeat)
        ours = best_of(["recsys", "ingest", "dzen", str(folder), "--out", f"{tmp}/dzen", "--force", "--quiet"], args.repeat)
        noop = best_of(["recsys", "ingest", "dzen", str(folder), "--out", f"{tmp}/dzen", "--quiet"], 1)
    report([
        ("bare polars + scipy script", *bare),
        ("recsys ingest dzen", *ours),
        ("recsys ingest dzen (up to date)", *noop),
    ], baseline="bare polars + scipy script")


if __name__ == "__main__":
    main()
