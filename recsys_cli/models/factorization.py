"""Matrix factorisation through `implicit` (multithreaded, float32); this module only adapts it
to the protocol: how train values become implicit's input, batched recommend with seen items
filtered, similar items with the anchor excluded, and save/load of the factors.

Every call into implicit (fit, recommend, fold-in, similar items) runs with one BLAS thread
(`single_threaded_blas`). A query for a few users or items (`recsys recommend`/`similar`: at
most QUERY_ROWS rows, no fold-in) is answered from the factors with numpy instead, so it does
not import implicit at all: the scores are the same float32 products (up to the last bit,
which OpenBLAS's shape-dependent kernels may round differently; checked in
tests/models/test_factor_queries.py) and both paths list tied scores by item index (DESIGN.md's rule,
which implicit's heap does not keep, so its lists are re-sorted where a row has ties). Above
QUERY_ROWS implicit's multithreaded top-k is faster than numpy's partition.
"""

from __future__ import annotations

import numpy as np

from recsys_cli.models.base import Recommender, similar_from_rows


def single_threaded_blas():
    """implicit and our numba kernels (iALS-Rendle) parallelise themselves; a BLAS thread pool
    underneath only oversubscribes (implicit warns about it when a model is built), and a
    multi-threaded OpenBLAS keeps its threads spinning after each call, into the parallel
    pass that follows. implicit's kernels call scipy's BLAS (scipy.linalg.cython_blas) and
    numba's np.linalg scipy's LAPACK, so scipy.linalg is loaded first (a limit covers only
    loaded libraries; numpy's own OpenBLAS is loaded already); implicit itself is not."""
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")


QUERY_ROWS = 64  # users (items) per call answered with numpy; more go through implicit


class ImplicitFactorModel(Recommender):
    has_similar_items = True
    iterative = True
    _implicit = None  # implicit's model object: made by fit, or from the factors on first need

    def build(self):
        """The implicit model object for self.params."""
        raise NotImplementedError

    def prepare(self, train):
        """input_matrix(train) -> the matrix implicit fits on (e.g. confidences)."""
        return train

    def fit(self, train, callback=None):
        self.n_items = train.shape[1]
        with single_threaded_blas():
            self._implicit = self.build()
            self._implicit.fit(self.prepare(train), show_progress=False, callback=callback)
        self.user_factors, self.item_factors = self._implicit.user_factors, self._implicit.item_factors
        return self

    @property
    def model(self):
        """implicit's model object (a loaded model makes it here, on its first implicit call)."""
        if self._implicit is None:
            with single_threaded_blas():
                self._implicit = self.build()
            self._implicit.user_factors, self._implicit.item_factors = self.user_factors, self.item_factors
        return self._implicit

    def score(self, users, history):
        return self.user_factors[users] @ self.item_factors.T

    def recommend(self, users, history, k, filter_seen=True, fold_in=False):
        users = np.asarray(users, dtype=np.int32)
        if not fold_in and len(users) <= QUERY_ROWS:
            return super().recommend(users, history, k, filter_seen)
        rows = self.prepare(self.input_matrix(history[users]))
        model = self.model
        with single_threaded_blas():
            ids, scores = model.recommend(users, rows, N=min(k, self.n_items),
                                          filter_already_liked_items=filter_seen, recalculate_user=fold_in)
        ids = np.asarray(ids, dtype=np.int32).reshape(len(users), -1)
        scores = np.asarray(scores, dtype=np.float32).reshape(len(users), -1)
        # implicit pads lists longer than a user's unseen items with seen ones scored -FLT_MAX.
        scores[scores <= np.finfo(np.float32).min] = -np.inf
        return ties_by_index(ids, scores)

    def similar_items(self, items, k):
        items = np.asarray(items, dtype=np.int32)
        if len(items) <= QUERY_ROWS:
            return self._similar_with_numpy(items, k)
        model = self.model
        with single_threaded_blas():
            ids, scores = model.similar_items(items, N=min(k + 1, self.n_items))
        ids, scores = np.atleast_2d(ids), np.atleast_2d(scores)
        # Move the anchor itself (usually first) to the end, then keep k (never the anchor).
        order = np.argsort(ids == items[:, None], axis=1, kind="stable")[:, :min(k, self.n_items - 1)]
        return ties_by_index(np.take_along_axis(ids, order, 1).astype(np.int32), np.take_along_axis(scores, order, 1))

    def _similar_with_numpy(self, items, k):
        """implicit's cosine, computed as it does: the products divided by every item's norm,
        then by the anchor's (a zero norm counts as 1e-10)."""
        norms = np.linalg.norm(self.item_factors, axis=-1)
        norms[norms == 0] = 1e-10
        rows = (self.item_factors[items] @ self.item_factors.T) / norms
        rows /= norms[items][:, None]
        return similar_from_rows(rows, items, min(k, self.n_items - 1))

    def state(self):
        return {"user_factors": np.asarray(self.user_factors), "item_factors": np.asarray(self.item_factors)}

    def set_state(self, arrays):
        self.user_factors, self.item_factors = arrays["user_factors"], arrays["item_factors"]
        self._implicit = None


def ties_by_index(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lists best first with equal scores in item-index order: only rows that hold a tie are
    re-sorted (rare with float32 scores, so this costs a comparison of neighbours)."""
    tied = np.flatnonzero((scores[:, 1:] == scores[:, :-1]).any(axis=1)) if scores.shape[1] > 1 else []
    if len(tied):
        sub_ids, sub_scores = ids[tied], scores[tied]
        order = np.lexsort((sub_ids, -sub_scores), axis=-1)
        ids[tied], scores[tied] = np.take_along_axis(sub_ids, order, 1), np.take_along_axis(sub_scores, order, 1)
    return ids, scores
