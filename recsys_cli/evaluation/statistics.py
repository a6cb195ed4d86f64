"""Uncertainty of per-user means: percentile bootstrap, vectorised in chunks of resamples."""

from __future__ import annotations

import numpy as np


def bootstrap_means(values: np.ndarray, resamples: int, rng) -> np.ndarray:
    """The means of `resamples` bootstrap resamples of `values`, drawn in chunks of about 1M
    int32 indices, so memory stays a few MB whatever the user count."""
    values = np.asarray(values, dtype=np.float64)
    chunk = max(1, (1 << 20) // max(len(values), 1))
    means = np.empty(resamples)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        picks = rng.integers(0, len(values), (size, len(values)), dtype=np.int32)
        means[start:start + size] = values[picks].mean(axis=1, dtype=np.float64)
    return means


def bootstrap_ci(values: np.ndarray, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`."""
    if len(values) == 0:
        return (float("nan"), float("nan"))
    means = bootstrap_means(values, resamples, np.random.default_rng(seed))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of `values` (NaN for fewer than 2). The quantile comes
    from scipy.special, 20x lighter to import than scipy.stats."""
    from scipy.special import stdtrit

    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < 2:
        return (float("nan"), float("nan"))
    half = float(stdtrit(len(values) - 1, 0.5 + level / 2) * values.std(ddof=1) / np.sqrt(len(values)))
    return (mean - half, mean + half)
