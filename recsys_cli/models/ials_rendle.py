"""iALS as in Rendle, Krichene, Zhang & Koren (2021), "Revisiting the performance of iALS on
item recommendation benchmarks": a separate weight for unobserved cells (alpha0),
regularisation scaled by frequency (nu) and a small-variance initialisation.

Objective, with S the observed cells, c_ui = 1 + alpha * r_ui their confidence:

    L = sum_S c_ui (<x_u, y_i> - 1)^2 + alpha0 sum_{not S} <x_u, y_i>^2
        + lambda sum_u (|S_u| + alpha0 |I|)^nu ||x_u||^2 + lambda sum_i (|S_i| + alpha0 |U|)^nu ||y_i||^2

With alpha0 = 1 and nu = 0 it is exactly implicit's iALS objective (Hu et al. 2008). Each
half-epoch solves, for every user (then every item), the normal equations

    (alpha0 Y^T Y + sum_{i in S_u} (c_ui - alpha0) y_i y_i^T + lambda_u I) x_u = sum_{i in S_u} c_ui y_i

with the Gramian trick: Y^T Y is computed once per half-epoch, so a row costs |S_u| f^2 + f^3
(exact solve, `cg_steps: 0`, numba-parallel over rows) or |S_u| f + f^2 per conjugate-gradient
step warm-started from the previous factors (`cg_steps: 3`, implicit's default). The CG runs
a block of rows in lockstep so that the f^2 Gramian part, most of the work at hundreds of
factors, is one BLAS matrix product per block and step.
"""

from __future__ import annotations

import numba
import numpy as np

from recsys_cli.data.sparse_counts import column_counts
from recsys_cli.models.base import Recommender, cosine_similar_items
from recsys_cli.models.factorization import single_threaded_blas
from recsys_cli.models.params import StrictParams, params_class
from recsys_cli.models.weighting import confidence_matrix


@params_class
def IALSRendleParams():
    from pydantic import Field

    class IALSRendleParams(StrictParams.build()):
        """Defaults from sweeps on validation parts of ml-latest-small's training data (ratings >= 4
        and all ratings; benchmarks/README.md, "Tuning iALS-Rendle against iALS and EASE"). With
        nu = 1, lambda multiplies |S_u| + alpha0 |I| (hundreds to thousands), so a row's penalty is
        lambda times that, not lambda as in implicit; the good region is a ridge of alpha0 * lambda
        near 0.003, and past roughly 0.01 the factors collapse towards popularity (MRR halves). As
        Rendle et al. found, hundreds of factors beat 128 once lambda is right: 512 gained
        0.003-0.006 of validation MRR@100 over 128 on both sets."""

        factors: int = Field(512, ge=1, le=4096)
        regularization: float = Field(0.005, ge=0, description="lambda, scaled by frequency^nu")
        alpha0: float = Field(0.6, gt=0, description="weight of every unobserved cell")
        nu: float = Field(1.0, ge=0, le=2, description="regularisation ~ (frequency + alpha0 * other side)^nu")
        alpha: float = Field(0.0, ge=0, description="observed confidence = 1 + alpha * weight")
        iterations: int = Field(16, ge=1, le=1000)
        init_std: float = Field(0.1, gt=0, description="initial factors ~ N(0, init_std^2 / factors)")
        cg_steps: int = Field(3, ge=0, le=64, description="conjugate-gradient steps per row; 0 = exact solve")

    return IALSRendleParams


@numba.njit(parallel=True, cache=True, fastmath=False)
def solve_rows(indptr, indices, confidence, rows, other, gram, alpha0, regularization):
    """Exact solve of every row of `rows` (n x f) in place against the fixed `other`
    factors (`cg_steps: 0`; fold-in); see the module doc."""
    n, f = rows.shape
    for u in numba.prange(n):
        start, end = indptr[u], indptr[u + 1]
        seen = np.empty((end - start, f), dtype=np.float64)  # the row's observed factors, gathered
        for p in range(start, end):
            seen[p - start] = other[indices[p]]
        c = confidence[start:end]
        a = alpha0 * gram + (seen.T * (c - alpha0)) @ seen  # one matrix product, not |S_u| outer products
        for d in range(f):
            a[d, d] += regularization[u]
        rows[u] = np.linalg.solve(a, seen.T @ c).astype(rows.dtype)


@numba.njit(parallel=True, cache=True, fastmath=True)
def observed_term(indptr, indices, constant, weight, other, vectors, first_row, with_constant):
    """Row k of the result: sum over row first_row + k's observed cells p of
    (constant_p + weight_p <y_p, vectors_k>) y_p, in float64: the sparse part of A v (and of
    b - A x) that the Gramian does not cover."""
    n, f = vectors.shape
    out = np.zeros((n, f), dtype=np.float64)
    for k in numba.prange(n):
        u = first_row + k
        for p in range(indptr[u], indptr[u + 1]):
            y = other[indices[p]]
            dot = 0.0
            for d in range(f):
                dot += y[d] * vectors[k, d]
            scale = weight[p] * dot + (constant[p] if with_constant else 0.0)
            for d in range(f):
                out[k, d] += scale * y[d]
    return out


def conjugate_gradient_rows(indptr, indices, confidence, rows, other, gram, alpha0, regularization, steps,
                            block=4096):
    """`steps` conjugate-gradient steps on every row's normal equations, warm-started from
    `rows` (updated in place), as implicit's CG does, but all rows of a block in lockstep: the
    Gramian products, f^2 per row and step and most of the work at hundreds of factors, are one
    BLAS matrix product per block; the observed cells go through `observed_term`. A row whose
    residual vanishes stops moving, as in the per-row loop."""
    tiny = 1e-20
    excess = confidence - alpha0
    for first in range(0, rows.shape[0], block):
        x = rows[first:first + block].astype(np.float64)
        penalty = regularization[first:first + block, None]
        residual = (observed_term(indptr, indices, confidence, -excess, other, x, first, True)
                    - alpha0 * (x @ gram) - penalty * x)
        direction = residual.copy()
        squared = np.einsum("nf,nf->n", residual, residual)
        for _ in range(steps):
            moving = squared >= tiny
            if not moving.any():
                break
            product = (observed_term(indptr, indices, excess, excess, other, direction, first, False)
                       + alpha0 * (direction @ gram) + penalty * direction)
            step = np.where(moving, squared / np.where(moving, np.einsum("nf,nf->n", direction, product), 1.0), 0.0)
            x += step[:, None] * direction
            residual -= step[:, None] * product
            squared_next = np.einsum("nf,nf->n", residual, residual)
            direction = residual + np.where(moving, squared_next / np.where(moving, squared, 1.0), 0.0)[:, None] * direction
            squared = squared_next
        rows[first:first + block] = x.astype(rows.dtype)


def gramian(factors) -> np.ndarray:
    """F^T F in float64, from one float64 copy of F."""
    wide = factors.astype(np.float64)
    return wide.T @ wide


def loss(confidence_csr, user_factors, item_factors, alpha0: float, regularization: float, nu: float) -> float:
    """The objective L of the module docstring (float64)."""
    x, y = user_factors.astype(np.float64), item_factors.astype(np.float64)
    coo = confidence_csr.tocoo()
    predicted = np.einsum("nf,nf->n", x[coo.row], y[coo.col])
    everything = float(np.sum((x.T @ x) * (y.T @ y)))
    observed = float(np.sum(coo.data * (predicted - 1.0) ** 2))
    unobserved = alpha0 * (everything - float(np.sum(predicted**2)))
    user_reg, item_reg = frequency_regularization(confidence_csr, alpha0, regularization, nu)
    return observed + unobserved + float(user_reg @ (x**2).sum(1)) + float(item_reg @ (y**2).sum(1))


def frequency_regularization(matrix, alpha0: float, regularization: float, nu: float):
    """lambda (|S_u| + alpha0 |I|)^nu per user and lambda (|S_i| + alpha0 |U|)^nu per item."""
    n_users, n_items = matrix.shape
    per_user = np.diff(matrix.indptr).astype(np.float64)
    per_item = column_counts(matrix).astype(np.float64)
    return (regularization * (per_user + alpha0 * n_items) ** nu,
            regularization * (per_item + alpha0 * n_users) ** nu)


class IALSRendle(Recommender):
    Params = IALSRendleParams
    has_similar_items = True
    iterative = True
    # Rendle et al.'s advice: nu = 1, many factors, a log scale for lambda and alpha0; the good
    # region is a ridge in (lambda, alpha0). nu and iterations stay fixed (16 epochs; 3 CG
    # steps matched the exact solve): trials go to what moves the metric. alpha0 reaches 3:
    # at 512 factors the all-ratings optimum sat at alpha0 1.
    tune_space = {
        "factors": {"choices": [128, 256, 512]},
        "regularization": {"low": 1e-3, "high": 0.1, "log": True},
        "alpha0": {"low": 0.03, "high": 3.0, "log": True},
    }

    def confidence(self, matrix, dtype=np.float32):
        return confidence_matrix(matrix, self.params.alpha, dtype)

    def initial_factors(self, n_users: int, n_items: int):
        rng = np.random.default_rng(self.seed)
        std = self.params.init_std / np.sqrt(self.params.factors)
        return (rng.normal(0.0, std, (n_users, self.params.factors)).astype(np.float32),
                rng.normal(0.0, std, (n_items, self.params.factors)).astype(np.float32))

    def fit(self, train, callback=None, initial=None):
        """`initial` = (user_factors, item_factors) to start from (tests); else small-variance normal."""
        import time

        p = self.params
        self.n_items = train.shape[1]
        by_user = self.confidence(train, np.float64)  # the kernels' dtype, converted once
        by_item = by_user.T.tocsr()
        user_reg, item_reg = frequency_regularization(by_user, p.alpha0, p.regularization, p.nu)
        self.user_factors, self.item_factors = (
            tuple(np.array(f, dtype=np.float32) for f in initial) if initial is not None
            else self.initial_factors(*train.shape))
        if self.threads:
            numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        # One BLAS thread: the exact solve calls LAPACK inside numba's parallel rows, and the
        # CG's block products run between numba's kernels, which a spinning OpenBLAS pool
        # slowed 2.4x at 128 factors (the factors are identical either way).
        with single_threaded_blas():
            for iteration in range(p.iterations):
                started = time.time()
                self._half_epoch(by_user, self.user_factors, self.item_factors, user_reg)
                self._half_epoch(by_item, self.item_factors, self.user_factors, item_reg)
                if callback is not None:
                    callback(iteration, time.time() - started, None)
        return self

    def _half_epoch(self, matrix, rows, other, regularization):
        arguments = (matrix.indptr, matrix.indices, matrix.data, rows, other, gramian(other),
                     float(self.params.alpha0), regularization)
        if self.params.cg_steps == 0:
            solve_rows(*arguments)
        else:
            conjugate_gradient_rows(*arguments, int(self.params.cg_steps))

    def recommend(self, users, history, k, filter_seen=True, fold_in=False):
        self._fold_in = fold_in
        return super().recommend(users, history, k, filter_seen=filter_seen, fold_in=fold_in)

    def user_vectors(self, users, history):
        """Trained factors, or for fold-in users one exact solve against the item factors."""
        if not getattr(self, "_fold_in", False):
            return self.user_factors[users]
        p = self.params
        rows = self.confidence(history)
        user_reg, _ = frequency_regularization(rows, p.alpha0, p.regularization, p.nu)
        vectors = np.zeros((len(users), p.factors), dtype=np.float32)
        with single_threaded_blas():  # LAPACK inside numba's parallel rows (see fit)
            solve_rows(rows.indptr, rows.indices, rows.data.astype(np.float64), vectors, self.item_factors,
                       gramian(self.item_factors), float(p.alpha0), user_reg)
        return vectors

    def score(self, users, history):
        return self.user_vectors(users, history) @ self.item_factors.T

    def similar_items(self, items, k):
        return cosine_similar_items(self.item_factors, items, k)

    def state(self):
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def set_state(self, arrays):
        self.user_factors, self.item_factors = arrays["user_factors"], arrays["item_factors"]
