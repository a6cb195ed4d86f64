"""SLIM ElasticNet (Ning & Karypis 2011; seed 001): item-item weights W learned by one
non-negative elastic-net regression per item, zero diagonal, scores = X W.

Each item's regressors are restricted to its `candidates` most co-occurring items (the
usual trick that makes SLIM finish on 10k+ item catalogues), the regressions run in
parallel threads (scikit-learn's coordinate descent releases the GIL), and W is sparse.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import Recommender, csr_from_state, csr_state
from recsys_cli.models.params import StrictParams, params_class


@params_class
def SLIMParams():
    from pydantic import Field

    class SLIMParams(StrictParams.build()):
        l1: float = Field(0.001, ge=0, description="L1 penalty (scikit-learn alpha * l1_ratio)")
        l2: float = Field(0.01, ge=0, description="L2 penalty (scikit-learn alpha * (1 - l1_ratio))")
        candidates: int = Field(200, ge=1, description="regressors per item: its top co-occurring items")
        max_iter: int = Field(100, ge=1)

    return SLIMParams


class SLIM(Recommender):
    Params = SLIMParams
    has_similar_items = True
    input_kind = "binary"
    tune_space = {
        "l1": {"low": 1e-5, "high": 0.1, "log": True},
        "l2": {"low": 1e-4, "high": 1.0, "log": True},
    }

    def fit(self, train):
        import threading
        from concurrent.futures import ThreadPoolExecutor

        from recsys_cli.models.item_knn import keep_top_per_row

        self.n_items = train.shape[1]
        x = train.astype(np.float64).tocsc()
        cooccurrence = (x.T @ x).tocsr()
        cooccurrence.setdiag(0)
        cooccurrence.eliminate_zeros()
        candidates = keep_top_per_row(cooccurrence, self.params.candidates)
        chunks = np.array_split(np.arange(self.n_items), max(1, min(self.n_items, 64)))
        workers = self.threads or None
        done, lock = [0], threading.Lock()

        def fit_chunk(items):
            part = self._fit_items(x, candidates, items)
            with lock:
                done[0] += len(items)
                self.report_progress(done[0], self.n_items, "items")
            return part

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(fit_chunk, chunks))
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        vals = np.concatenate([p[2] for p in parts])
        # W[i, j]: weight of item i in predicting item j (scores = X W)
        self.weights = sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=(self.n_items, self.n_items))
        return self

    def _fit_items(self, x, candidates, items):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import ElasticNet

        alpha = self.params.l1 + self.params.l2
        model = ElasticNet(alpha=alpha, l1_ratio=self.params.l1 / alpha if alpha else 0.0, positive=True,
                           fit_intercept=False, max_iter=self.params.max_iter, selection="cyclic", tol=1e-4)
        rows, cols, vals = [], [], []
        for item in items:
            regressors = candidates.indices[candidates.indptr[item]:candidates.indptr[item + 1]]
            if len(regressors) == 0:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(x[:, regressors], x[:, item].toarray().ravel())
            keep = model.coef_ > 0
            rows.append(regressors[keep])
            cols.append(np.full(keep.sum(), item))
            vals.append(model.coef_[keep])
        empty = np.empty(0)
        return (np.concatenate(rows) if rows else empty.astype(int), np.concatenate(cols) if cols else empty.astype(int),
                np.concatenate(vals) if vals else empty)

    def score(self, users, history):
        return (history @ self.weights).toarray()

    def similar_items(self, items, k):
        from recsys_cli.models.item_knn import sparse_row_topk

        symmetric = (self.weights + self.weights.T).tocsr()
        return sparse_row_topk(symmetric[items], items, k)

    def state(self):
        return csr_state(self.weights, "weights")

    def set_state(self, arrays):
        self.weights = csr_from_state(arrays, "weights")
