"""Paired tests of a difference of means, with family-wise adjustment.

Why means: per-user MRR, recall... are mostly zeros, and a rank test (Wilcoxon signed-rank)
then mainly detects a difference in how many users get a hit, not in the mean the tables
report. The default test is therefore a paired sign-flip permutation test of the mean
difference (exact over all 2^n sign vectors when that is no more than the resamples asked
for, else Monte-Carlo, seeded, with the +1 correction of Phipson & Smyth 2010); the paired
t-test is the parametric alternative and Wilcoxon is kept only on request.

p-values of a family of comparisons are Holm-adjusted; intervals for the same family use the
Bonferroni level 1 - alpha / m, so each one covers its difference simultaneously with the
others at the stated family level.
"""

from __future__ import annotations

import numpy as np

TESTS = ("permutation", "t", "wilcoxon")
PERMUTATIONS = 10_000
ALPHA = 0.05


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values."""
    pvalues = np.asarray(pvalues, dtype=np.float64)
    m = len(pvalues)
    order = np.argsort(pvalues)
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * pvalues[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def sign_flip_pvalue(diff: np.ndarray, resamples: int = PERMUTATIONS, seed: int = 0) -> float:
    """Two-sided p-value of mean(diff) = 0 under random sign flips of the paired differences.

    Exact when 2^n <= resamples (every sign vector enumerated); otherwise `resamples` seeded
    sign vectors in chunks of about 1M signs, p = (1 + #{|mean*| >= |mean|}) / (1 + resamples).
    """
    diff = np.asarray(diff, dtype=np.float64)
    n = len(diff)
    if n == 0 or not np.any(diff):
        return 1.0
    observed = abs(diff.sum())
    tolerance = 1e-12 * max(np.abs(diff).sum(), 1e-300)  # float sums of equal magnitude may differ in the last bits
    if n <= 30 and 2**n <= resamples:
        signs = 1.0 - 2.0 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        return float(np.mean(np.abs(signs @ diff) >= observed - tolerance))
    rng = np.random.default_rng(seed)
    chunk = max(1, (1 << 20) // n)
    extreme = 0
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        signs = 1.0 - 2.0 * rng.integers(0, 2, (size, n), dtype=np.int8)
        extreme += int(np.count_nonzero(np.abs(signs @ diff) >= observed - tolerance))
    return (1 + extreme) / (1 + resamples)


def paired_t_pvalue(diff: np.ndarray) -> float:
    """Two-sided paired t-test of mean(diff) = 0 (1.0 when every difference is zero)."""
    from scipy.stats import ttest_1samp

    diff = np.asarray(diff, dtype=np.float64)
    if len(diff) < 2 or not np.any(diff):
        return 1.0
    if np.all(diff == diff[0]):
        return 0.0  # no spread: every pair differs by the same nonzero amount
    return float(ttest_1samp(diff, 0.0).pvalue)


def wilcoxon_pvalue(diff: np.ndarray) -> float:
    """Wilcoxon signed-rank (zeros split): a test of the median/ranks, not of the mean."""
    from scipy.stats import wilcoxon

    diff = np.asarray(diff, dtype=np.float64)
    if not np.any(diff):
        return 1.0
    return float(wilcoxon(diff, zero_method="zsplit").pvalue)


def paired_pvalue(diff: np.ndarray, test: str = "permutation", seed: int = 0) -> float:
    if test == "permutation":
        return sign_flip_pvalue(diff, seed=seed)
    if test == "t":
        return paired_t_pvalue(diff)
    if test == "wilcoxon":
        return wilcoxon_pvalue(diff)
    raise ValueError(f"unknown test {test!r}; expected one of {', '.join(TESTS)}")


def test_label(test: str) -> str:
    return {"permutation": "paired sign-flip permutation test of the mean difference",
            "t": "paired t-test of the mean difference",
            "wilcoxon": "Wilcoxon signed-rank (ranks, not means)"}[test]


def significantly_best(values: dict[str, np.ndarray], higher_is_better: bool = True, test: str = "permutation",
                       alpha: float = ALPHA, seed: int = 0) -> str | None:
    """The model with the best mean if it beats every other one (paired, Holm-adjusted over
    those m - 1 comparisons at family level alpha), else None. `values`: model -> per-unit
    values aligned across models (users, or repeats)."""
    if len(values) < 2:
        return None
    means = {name: float(np.mean(v, dtype=np.float64)) for name, v in values.items()}
    best = (max if higher_is_better else min)(means, key=means.get)
    others = [name for name in values if name != best]
    diffs = [np.asarray(values[best], np.float64) - np.asarray(values[name], np.float64) for name in others]
    if any(not np.any(d) for d in diffs):
        return None  # tied with another model
    adjusted = holm(np.array([paired_pvalue(d, test, seed) for d in diffs]))
    return best if bool(np.all(adjusted < alpha)) else None


def significant_best_per_column(per_unit: dict[str, dict[str, np.ndarray]], columns: list[str],
                                lower_is_better: set[str], test: str = "permutation", seed: int = 0) -> dict[str, str | None]:
    """`metric@k` -> the significantly best model, or None (no clear winner, or the metric has
    no per-unit values, like catalogue coverage). per_unit: model -> column -> aligned values."""
    out: dict[str, str | None] = {}
    for column in columns:
        values = {name: frame[column] for name, frame in per_unit.items() if column in frame}
        if len(values) != len(per_unit):
            out[column] = None
            continue
        higher = column.split("@")[0] not in lower_is_better
        out[column] = significantly_best(values, higher_is_better=higher, test=test, seed=seed)
    return out
