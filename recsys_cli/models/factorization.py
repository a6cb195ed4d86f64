"""Matrix factorisation through `implicit` (multithreaded, float32); this module only adapts it
to the protocol: how train values become implicit's input, batched recommend with seen items
filtered, similar items with the anchor excluded, and save/load of the factors."""

from __future__ import annotations

import numpy as np

from recsys_cli.models.base import Recommender


def single_threaded_blas():
    """implicit and our numba kernels (iALS-Rendle) parallelise themselves; a BLAS thread pool
    underneath only oversubscribes (implicit warns about it when a model is built), and a
    multi-threaded OpenBLAS keeps its threads spinning after each call, into the parallel
    pass that follows. implicit's BLAS and scipy's LAPACK (which numba's np.linalg calls) are
    loaded first: a limit covers only loaded libraries."""
    import implicit.cpu.als  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")


class ImplicitFactorModel(Recommender):
    has_similar_items = True
    iterative = True

    def build(self):
        """The implicit model object for self.params."""
        raise NotImplementedError

    def prepare(self, train):
        """input_matrix(train) -> the matrix implicit fits on (e.g. confidences)."""
        return train

    def fit(self, train, callback=None):
        self.n_items = train.shape[1]
        with single_threaded_blas():
            self.model = self.build()
            self.model.fit(self.prepare(train), show_progress=False, callback=callback)
        return self

    def recommend(self, users, history, k, filter_seen=True, fold_in=False):
        users = np.asarray(users, dtype=np.int32)
        rows = self.prepare(self.input_matrix(history[users]))
        ids, scores = self.model.recommend(
            users, rows, N=min(k, self.n_items),
            filter_already_liked_items=filter_seen, recalculate_user=fold_in,
        )
        ids = np.asarray(ids, dtype=np.int32).reshape(len(users), -1)
        scores = np.asarray(scores, dtype=np.float32).reshape(len(users), -1)
        # implicit pads lists longer than a user's unseen items with seen ones scored -FLT_MAX.
        scores[scores <= np.finfo(np.float32).min] = -np.inf
        return ids, scores

    def similar_items(self, items, k):
        items = np.asarray(items, dtype=np.int32)
        ids, scores = self.model.similar_items(items, N=min(k + 1, self.n_items))
        ids, scores = np.atleast_2d(ids), np.atleast_2d(scores)
        # Move the anchor itself (usually first) to the end, then keep k.
        order = np.argsort(ids == items[:, None], axis=1, kind="stable")[:, :k]
        return np.take_along_axis(ids, order, 1).astype(np.int32), np.take_along_axis(scores, order, 1)

    def state(self):
        return {"user_factors": np.asarray(self.model.user_factors), "item_factors": np.asarray(self.model.item_factors)}

    def set_state(self, arrays):
        with single_threaded_blas():
            self.model = self.build()
        self.model.user_factors = arrays["user_factors"]
        self.model.item_factors = arrays["item_factors"]
