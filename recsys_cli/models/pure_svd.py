"""PureSVD (Cremonesi, Koren & Turrin 2010): truncated SVD of the binarised interaction
matrix, X ~ U S V^T, scoring a user's history x by x V V^T (folds in any history)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recsys_cli.models.base import Recommender, similar_from_rows
from recsys_cli.models.topk import rows_per_batch


class PureSVDParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factors: int = Field(64, ge=1, le=4096)


class PureSVD(Recommender):
    Params = PureSVDParams
    has_similar_items = True
    tune_space = {"factors": {"low": 8, "high": 512, "log": True, "type": "int"}}

    def fit(self, train):
        from scipy.sparse.linalg import svds

        self.n_items = train.shape[1]
        binary = (train > 0).astype(np.float64)
        factors = min(self.params.factors, min(binary.shape) - 1)
        _, singular, vt = svds(binary, k=factors, random_state=self.seed)
        order = np.argsort(-singular)
        self.item_factors = vt[order].T.astype(np.float32)  # items x factors
        return self

    def score(self, users, history):
        return np.asarray(((history > 0).astype(np.float32) @ self.item_factors) @ self.item_factors.T)

    def similar_items(self, items, k):
        normed = self.item_factors / (np.linalg.norm(self.item_factors, axis=1, keepdims=True) + 1e-12)
        step = rows_per_batch(self.n_items)
        parts = [similar_from_rows(normed[items[s:s + step]] @ normed.T, items[s:s + step], k)
                 for s in range(0, len(items), step)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def state(self):
        return {"item_factors": self.item_factors}

    def set_state(self, arrays):
        self.item_factors = arrays["item_factors"]
