"""Explicit-rating models (seed 002 task 1, seed 001's observed-only ALS), for datasets
ingested with ratings (MovieLens without --min-rating). Both predict
r_ui = mu + b_u + b_i + p_u . q_i, are scored by RMSE and MAE on the held-out ratings, and
rank by predicted rating.

- `funk-svd`: biased matrix factorisation trained by SGD over the observed ratings (a numba
  kernel; serial and seeded, so it is reproducible).
- `als-explicit`: alternating least squares over observed ratings only, biases folded into
  the factors ([p_u, b_u] . [q_i, 1]); each half-step solves every user (item) in parallel.
"""

from __future__ import annotations

import numba
import numpy as np

from recsys_cli.models.base import Recommender, cosine_similar_items
from recsys_cli.models.params import StrictParams, params_class


def _njit(**options):
    return numba.njit(cache=True, **options)


@_njit()
def _sgd_epoch(users, items, ratings, order, p, q, bu, bi, mu, lr, reg):  # pragma: no cover - compiled
    squared = 0.0
    for t in range(order.shape[0]):
        idx = order[t]
        u, i = users[idx], items[idx]
        prediction = mu + bu[u] + bi[i]
        for f in range(p.shape[1]):
            prediction += p[u, f] * q[i, f]
        error = ratings[idx] - prediction
        squared += error * error
        bu[u] += lr * (error - reg * bu[u])
        bi[i] += lr * (error - reg * bi[i])
        for f in range(p.shape[1]):
            pu, qi = p[u, f], q[i, f]
            p[u, f] += lr * (error * qi - reg * pu)
            q[i, f] += lr * (error * pu - reg * qi)
    return np.sqrt(squared / max(order.shape[0], 1))


@_njit(parallel=True)
def _solve_rows(indptr, indices, targets, fixed, reg, out):  # pragma: no cover - compiled
    """For each row r: argmin_x sum_j (t_rj - x . fixed_j)^2 + reg |x|^2 over its observed j."""
    dim = fixed.shape[1]
    for r in numba.prange(indptr.shape[0] - 1):
        start, end = indptr[r], indptr[r + 1]
        if start == end:
            continue
        a = reg * np.eye(dim)
        b = np.zeros(dim)
        for k in range(start, end):
            y = fixed[indices[k]]
            a += np.outer(y, y)
            b += targets[k] * y
        out[r] = np.linalg.solve(a, b)


@params_class
def FunkSVDParams():
    from pydantic import Field

    class FunkSVDParams(StrictParams.build()):
        factors: int = Field(50, ge=1, le=1024)
        epochs: int = Field(40, ge=1, le=1000)
        learning_rate: float = Field(0.005, gt=0)
        regularization: float = Field(0.05, ge=0)
        init_std: float = Field(0.1, gt=0)

    return FunkSVDParams


@params_class
def ALSExplicitParams():
    from pydantic import Field

    class ALSExplicitParams(StrictParams.build()):
        factors: int = Field(20, ge=1, le=1024)
        iterations: int = Field(15, ge=1, le=1000)
        regularization: float = Field(15.0, ge=0)

    return ALSExplicitParams


class RatingModel(Recommender):
    """Shared prediction, ranking, similar items and state of the biased factor models."""

    predicts_ratings = True
    has_similar_items = True
    input_kind = "ratings"

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return (self.mu + self.user_bias[users] + self.item_bias[items]
                + np.einsum("nf,nf->n", self.user_factors[users], self.item_factors[items])).astype(np.float32)

    def score(self, users, history):
        return (self.mu + self.user_bias[users][:, None] + self.item_bias[None, :]
                + self.user_factors[users] @ self.item_factors.T).astype(np.float32)

    def similar_items(self, items, k):
        return cosine_similar_items(self.item_factors, items, k)

    def state(self):
        return {"mu": np.array([self.mu]), "user_bias": self.user_bias, "item_bias": self.item_bias,
                "user_factors": self.user_factors, "item_factors": self.item_factors}

    def set_state(self, arrays):
        self.mu = float(arrays["mu"][0])
        for name in ("user_bias", "item_bias", "user_factors", "item_factors"):
            setattr(self, name, arrays[name])


class FunkSVD(RatingModel):
    Params = FunkSVDParams
    tune_space = {
        "factors": {"low": 10, "high": 200, "log": True, "type": "int"},
        "learning_rate": {"low": 1e-3, "high": 0.02, "log": True},
        "regularization": {"low": 1e-3, "high": 0.2, "log": True},
        "epochs": {"choices": [10, 20, 40]},
    }

    def fit(self, train):
        coo = train.tocoo()
        self.n_items = train.shape[1]
        p = self.params
        rng = np.random.default_rng(self.seed)
        users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        ratings = coo.data.astype(np.float64)
        self.mu = float(ratings.mean()) if len(ratings) else 0.0
        user_factors = rng.normal(0, p.init_std, (train.shape[0], p.factors))
        item_factors = rng.normal(0, p.init_std, (train.shape[1], p.factors))
        user_bias, item_bias = np.zeros(train.shape[0]), np.zeros(train.shape[1])
        for _ in range(p.epochs):
            _sgd_epoch(users, items, ratings, rng.permutation(len(ratings)), user_factors, item_factors,
                       user_bias, item_bias, self.mu, p.learning_rate, p.regularization)
        self.user_factors, self.item_factors = user_factors.astype(np.float32), item_factors.astype(np.float32)
        self.user_bias, self.item_bias = user_bias.astype(np.float32), item_bias.astype(np.float32)
        return self


class ALSExplicit(RatingModel):
    Params = ALSExplicitParams
    tune_space = {
        "factors": {"low": 5, "high": 100, "log": True, "type": "int"},
        "regularization": {"low": 0.1, "high": 50.0, "log": True},
    }

    def fit(self, train):
        train = train.tocsr()
        by_item = train.T.tocsr()
        self.n_items = train.shape[1]
        p = self.params
        rng = np.random.default_rng(self.seed)
        self.mu = float(train.data.mean()) if train.nnz else 0.0
        # x_u = [p_u, b_u], y_i = [q_i, b_i]; a user's prediction is mu + x_u . [q_i, 1] + b_i
        x = np.zeros((train.shape[0], p.factors + 1))
        y = np.hstack([rng.normal(0, 0.1, (train.shape[1], p.factors)), np.zeros((train.shape[1], 1))])
        for _ in range(p.iterations):
            fixed = np.hstack([y[:, :-1], np.ones((y.shape[0], 1))])
            _solve_rows(train.indptr, train.indices, train.data - self.mu - y[train.indices, -1], fixed, p.regularization, x)
            fixed = np.hstack([x[:, :-1], np.ones((x.shape[0], 1))])
            _solve_rows(by_item.indptr, by_item.indices, by_item.data - self.mu - x[by_item.indices, -1], fixed,
                        p.regularization, y)
        self.user_factors, self.user_bias = x[:, :-1].astype(np.float32), x[:, -1].astype(np.float32)
        self.item_factors, self.item_bias = y[:, :-1].astype(np.float32), y[:, -1].astype(np.float32)
        return self
