"""Counts are not likes: how interaction values become training weights.

A play count of 352,698 fed to iALS as confidence 1 + alpha * r drowns every other signal.
The standard transforms, as a pure function over a users x items CSR:

- `none`:   the values as they are.
- `binary`: every interaction weighs 1.
- `log1p`:  log(1 + r / eps); iALS's confidence 1 + alpha * w is then Hu, Koren & Volinsky
            (2008)'s log scaling 1 + alpha * log(1 + r / eps).
- `bm25`, `tfidf`: implicit.nearest_neighbours' bm25_weight / tfidf_weight (the same values,
            computed here per cell so that item totals can be the training matrix's), applied
            as its BM25Recommender and Last.fm example do, on items x users: items are the
            documents (a popular item's counts saturate, BM25's length normalisation by the
            item's total against the mean item total), users the terms (idf = log(n_items) -
            log(1 + items of the user), which discounts users who play everything).

Item totals are a statistic of the training matrix: recommending for a batch of users must
reuse them (`item_totals`), or the same user would be weighted differently in a batch of
other users. idf is <= 0 for a user who has nearly the whole catalogue; such cells get the smallest
weight of the other users' cells (all cells the same weight if no user has a positive idf),
so no interaction is lost or turned negative.

Models that take weights declare the parameters by inheriting `WeightingParams` and call
`weigh(params, matrix, item_totals)` where their training input is prepared.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from recsys_cli.core.errors import InputError
from recsys_cli.data.sparse_counts import column_counts
from recsys_cli.models.params import StrictParams, params_class

SCHEMES = ("none", "binary", "log1p", "bm25", "tfidf")
CELLWISE = ("none", "binary", "log1p")  # need no statistic of the whole matrix (ingest takes these)
SPREAD_WARNING = 1000.0  # max / median of the weights above which raw values are suspicious


@params_class
def WeightingParams():
    from pydantic import Field

    class WeightingParams(StrictParams.build()):
        weighting: Literal[SCHEMES] = Field("none", description="how interaction values become weights")  # type: ignore[valid-type]
        weighting_eps: float = Field(1.0, gt=0, description="log1p: w = log(1 + r / eps)")
        weighting_k1: float = Field(100.0, gt=0, description="bm25: saturation of an item's counts")
        weighting_b: float = Field(0.8, ge=0, le=1, description="bm25: strength of the item length normalisation")

    return WeightingParams


def unused_weighting_params(params: dict) -> set[str]:
    """The weighting options the chosen scheme does not read (none of them without a scheme)."""
    if "weighting" not in params:
        return set()
    scheme = params["weighting"]
    return ({"weighting_eps"} if scheme != "log1p" else set()) | ({"weighting_k1", "weighting_b"} if scheme != "bm25" else set())


def item_totals(matrix) -> np.ndarray:
    """Sum of each item's values (its BM25 document length), float64."""
    return column_counts(matrix, weighted=True)


def apply_weighting(matrix, scheme: str, *, eps: float = 1.0, k1: float = 100.0, b: float = 0.8,
                    totals: np.ndarray | None = None):
    """A float32 CSR copy of `matrix` with its values transformed by `scheme` (see the module
    docstring); `totals` are the training matrix's item totals for bm25 (default: this one's)."""
    import scipy.sparse as sp

    matrix = matrix.tocsr()
    if scheme not in SCHEMES:
        raise InputError(f"unknown weighting {scheme!r}; expected one of {', '.join(SCHEMES)}")
    if scheme == "none" or matrix.nnz == 0:
        return matrix.astype(np.float32, copy=True)
    values = matrix.data.astype(np.float64)
    if not np.all(np.isfinite(values)) or (values < 0).any():
        raise InputError(f"weighting {scheme!r} needs finite non-negative interaction values")
    if scheme == "binary":
        weights = np.ones_like(values)
    elif scheme == "log1p":
        weights = np.log1p(values / eps)
    else:
        # Per cell (user u, item i, value r), as implicit's helpers compute on items x users:
        # idf of the user, and for bm25 the item's saturation under its length normalisation.
        users = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        idf = np.log(float(matrix.shape[1])) - np.log1p(np.diff(matrix.indptr).astype(np.float64))
        if scheme == "tfidf":
            weights = np.sqrt(values) * idf[users]
        else:
            totals = item_totals(matrix) if totals is None else np.asarray(totals, dtype=np.float64)
            length_norm = (1.0 - b) + b * totals / max(float(totals.mean()), 1e-12)
            weights = values * (k1 + 1.0) / (k1 * length_norm[matrix.indices] + values) * idf[users]
        informative = idf[users] > 1e-6  # idf of a user with (nearly) every item is <= 0
        floor = weights[informative].min() if informative.any() else 1.0
        weights = np.where(informative, weights, floor)
    # The input's values are replaced, not copied first: only its index arrays are.
    return sp.csr_matrix((weights.astype(np.float32), matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape)


def weigh(params: WeightingParams, matrix, totals: np.ndarray | None = None):
    """A model's training (or history) input under its weighting parameters."""
    if params.weighting == "none":
        return matrix
    return apply_weighting(matrix, params.weighting, eps=params.weighting_eps, k1=params.weighting_k1,
                           b=params.weighting_b, totals=totals)


def confidence_matrix(matrix, alpha: float, dtype=np.float32):
    """iALS's confidence 1 + alpha * w of every stored cell of a float32 CSR (computed in float32),
    as a CSR of `dtype` that shares `matrix`'s index arrays: only the values are new, so preparing
    a model's input costs one array of values, not a copy of the whole matrix."""
    import scipy.sparse as sp

    values = (1.0 + np.float32(alpha) * matrix.data).astype(dtype, copy=False)
    return sp.csr_matrix((values, matrix.indices, matrix.indptr), shape=matrix.shape)


def unweighted_warning(params, matrix) -> str | None:
    """For a model that takes weights and has none set: the spread warning of its input."""
    if getattr(params, "weighting", None) != "none" or matrix.nnz == 0:
        return None
    return spread_warning(float(np.median(matrix.data)), float(matrix.data.max()))


def spread_warning(median: float, top: float) -> str | None:
    """A warning when the values span orders of magnitude (max / median above SPREAD_WARNING),
    the sign of raw counts going straight into a model; None otherwise."""
    if median <= 0 or top / median <= SPREAD_WARNING:
        return None
    return (f"interaction values span orders of magnitude (median {median:.4g}, max {top:.4g}); raw counts "
            "dominate the fit: set a weighting (log1p, bm25, tfidf or binary) on the model or at ingest")
