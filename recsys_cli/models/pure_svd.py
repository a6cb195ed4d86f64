"""PureSVD (Cremonesi, Koren & Turrin 2010): truncated SVD of the binarised interaction
matrix, X ~ U S V^T, scoring a user's history x by x V V^T (folds in any history)."""

from __future__ import annotations

import numpy as np

from recsys_cli.models.base import Recommender, cosine_similar_items
from recsys_cli.models.params import StrictParams, params_class


@params_class
def PureSVDParams():
    from pydantic import Field

    class PureSVDParams(StrictParams.build()):
        factors: int = Field(64, ge=1, le=4096)

    return PureSVDParams


class PureSVD(Recommender):
    Params = PureSVDParams
    has_similar_items = True
    input_kind = "binary"
    tune_space = {"factors": {"low": 8, "high": 512, "log": True, "type": "int"}}

    def fit(self, train):
        from scipy.sparse.linalg import svds

        self.n_items = train.shape[1]
        binary = train.astype(np.float64)
        factors = min(self.params.factors, min(binary.shape) - 1)
        _, singular, vt = svds(binary, k=factors, random_state=self.seed)
        order = np.argsort(-singular)
        self.item_factors = vt[order].T.astype(np.float32)  # items x factors
        return self

    def score(self, users, history):
        return np.asarray((history @ self.item_factors) @ self.item_factors.T)

    def similar_items(self, items, k):
        return cosine_similar_items(self.item_factors, items, k)

    def state(self):
        return {"item_factors": self.item_factors}

    def set_state(self, arrays):
        self.item_factors = arrays["item_factors"]
