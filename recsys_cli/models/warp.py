"""Matrix factorisation with the WARP loss (Weston, Bengio & Usunier 2011; seed 002 task 4).

For each positive (u, i), negatives j are sampled until one violates the margin
(s_uj > s_ui - 1); the update is weighted by log(floor((n_items - 1) / trials)), an
estimate of how badly i is ranked. A numba kernel, parallel over chunks of positives
(Hogwild, as LightFM does): not bitwise reproducible when multithreaded. lightfm does not
build here, hence our own kernel.
"""

from __future__ import annotations

import numba
import numpy as np

from recsys_cli.models.base import Recommender, cosine_similar_items
from recsys_cli.models.params import StrictParams, params_class


@numba.njit(cache=True)
def _is_positive(indptr, indices, user, item):  # pragma: no cover - compiled
    start, end = indptr[user], indptr[user + 1]
    position = np.searchsorted(indices[start:end], item)
    return position < end - start and indices[start + position] == item


@numba.njit(parallel=True, cache=True)
def _warp_epoch(indptr, indices, users, items, order, u_factors, i_factors, bias, lr, reg, max_sampled,
                seed, chunks):  # pragma: no cover - compiled
    n_items = i_factors.shape[0]
    size = (order.shape[0] + chunks - 1) // chunks
    for chunk in numba.prange(chunks):
        np.random.seed(seed + chunk)
        for t in range(chunk * size, min((chunk + 1) * size, order.shape[0])):
            u, i = users[order[t]], items[order[t]]
            positive = bias[i] + np.dot(u_factors[u], i_factors[i])
            for trial in range(1, max_sampled + 1):
                j = np.random.randint(0, n_items)
                if _is_positive(indptr, indices, u, j):
                    continue
                negative = bias[j] + np.dot(u_factors[u], i_factors[j])
                if negative > positive - 1.0:
                    weight = np.log(max(1.0, np.floor((n_items - 1) / trial)))
                    for f in range(u_factors.shape[1]):
                        uf, vi, vj = u_factors[u, f], i_factors[i, f], i_factors[j, f]
                        u_factors[u, f] += lr * (weight * (vi - vj) - reg * uf)
                        i_factors[i, f] += lr * (weight * uf - reg * vi)
                        i_factors[j, f] += lr * (-weight * uf - reg * vj)
                    bias[i] += lr * weight
                    bias[j] -= lr * weight
                    break


@params_class
def WARPParams():
    from pydantic import Field

    class WARPParams(StrictParams.build()):
        factors: int = Field(64, ge=1, le=1024)
        epochs: int = Field(30, ge=1, le=1000)
        learning_rate: float = Field(0.002, gt=0, description="plain SGD; the rank weight reaches log(n_items)")
        regularization: float = Field(1e-3, ge=0)
        max_sampled: int = Field(50, ge=1, le=10_000, description="negatives tried per positive")

    return WARPParams


class WARP(Recommender):
    Params = WARPParams
    has_similar_items = True
    deterministic = False
    tune_space = {
        "factors": {"low": 16, "high": 256, "log": True, "type": "int"},
        "learning_rate": {"low": 5e-4, "high": 0.01, "log": True},
        "regularization": {"low": 1e-5, "high": 1e-2, "log": True},
        "epochs": {"choices": [10, 30, 60]},
    }

    def fit(self, train):
        train = train.tocsr()
        train.sort_indices()
        self.n_items = train.shape[1]
        p = self.params
        rng = np.random.default_rng(self.seed)
        users = np.repeat(np.arange(train.shape[0], dtype=np.int64), np.diff(train.indptr))
        items = train.indices.astype(np.int64)
        self.user_factors = rng.normal(0, 0.1, (train.shape[0], p.factors)).astype(np.float32)
        self.item_factors = rng.normal(0, 0.1, (train.shape[1], p.factors)).astype(np.float32)
        self.item_bias = np.zeros(train.shape[1], dtype=np.float32)
        threads = min(self.threads or numba.config.NUMBA_NUM_THREADS, numba.config.NUMBA_NUM_THREADS)
        chunks = threads * 4
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)  # `threads: 1` makes the Hogwild epochs serial, hence reproducible
        try:
            for epoch in range(p.epochs):
                _warp_epoch(train.indptr.astype(np.int64), items, users, items, rng.permutation(len(items)),
                            self.user_factors, self.item_factors, self.item_bias, np.float32(p.learning_rate),
                            np.float32(p.regularization), p.max_sampled, self.seed * 1000 + epoch * chunks, chunks)
        finally:
            numba.set_num_threads(previous)
        return self

    def score(self, users, history):
        return self.user_factors[users] @ self.item_factors.T + self.item_bias

    def similar_items(self, items, k):
        return cosine_similar_items(self.item_factors, items, k)

    def state(self):
        return {"user_factors": self.user_factors, "item_factors": self.item_factors, "item_bias": self.item_bias}

    def set_state(self, arrays):
        for name, value in arrays.items():
            setattr(self, name, value)
