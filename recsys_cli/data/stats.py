"""Descriptive statistics of a dataset folder (`recsys info`)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from recsys_cli.data.dataset import Dataset
from recsys_cli.data.sparse_counts import column_counts

QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


def describe(dataset: Dataset) -> dict:
    matrix = dataset.matrix
    activity = np.diff(matrix.indptr)
    popularity = column_counts(matrix)
    info = dataset.info
    time_range = info.get("time_range")
    return {
        "path": str(dataset.path),
        "format": info["format"],
        "users": matrix.shape[0],
        "items": matrix.shape[1],
        "events": info["counts"]["events"],
        "interactions": int(matrix.nnz),
        "density": matrix.nnz / max(1, matrix.shape[0] * matrix.shape[1]),
        "weight_sum": float(matrix.data.sum()),
        "user_activity_quantiles": _quantiles(activity),
        "item_popularity_quantiles": _quantiles(popularity),
        "time_range": [_iso(t) for t in time_range] if time_range else None,
        "item_metadata": info.get("item_metadata", []),
        "fingerprint": info["fingerprint"],
    }


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return {f"q{int(q * 100)}": float(np.quantile(values, q)) for q in QUANTILES}


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")
