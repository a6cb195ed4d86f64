"""Similar-items lists for 1,000 anchors over the 104,503-item Dzen-shape catalogue (issue 5:
"in seconds"), for a factor model (implicit's batched similar_items) and item-kNN (rows of
its sparse similarity matrix), plus the agreement computation between them.

Usage: python benchmarks/compare_dzen.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from common import dzen_dataset  # noqa: E402

from recsys_cli.serving.compare import choose_anchors, list_agreement  # noqa: E402
from recsys_cli.data.dataset import Dataset  # noqa: E402
from recsys_cli.models.base import item_popularity  # noqa: E402
from recsys_cli.models.registry import build_model  # noqa: E402


def main() -> None:
    matrix = Dataset.open(dzen_dataset()).matrix
    anchors, _ = choose_anchors(item_popularity(matrix), 1000, seed=42)
    print(f"{matrix.shape[0]:,} users x {matrix.shape[1]:,} items; {len(anchors)} anchors, k = 10")
    lists = {}
    for name, params in (("ials", {"factors": 64, "iterations": 3}), ("item-knn", {"neighbors": 50})):
        started = time.perf_counter()
        model = build_model(name, params).fit(matrix)
        fitted = time.perf_counter()
        lists[name] = model.similar_items(anchors, 10)[0]
        done = time.perf_counter()
        print(f"{name:9s} fit {fitted - started:6.1f}s   similar_items for {len(anchors)} anchors {done - fitted:6.2f}s")
    started = time.perf_counter()
    agreement = list_agreement(lists["ials"], lists["item-knn"])
    print(f"agreement (overlap, Jaccard, RBO) {time.perf_counter() - started:.3f}s; "
          f"mean overlap@10 {agreement['overlap'].mean():.3f}, RBO {agreement['rbo'].mean():.3f}")


if __name__ == "__main__":
    main()
