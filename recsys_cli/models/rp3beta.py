"""RP3beta (Paudel, Christoffel, Newell & Bernstein 2017): a graph-based item-item model.

A random walk of three steps item -> user -> item on the bipartite interaction graph, with the
transition probabilities raised to `alpha` and the arrival item's weight divided by its
popularity to the power `beta`:

    P_ui = row-normalised X (users -> items),   P_iu = row-normalised X^T (items -> users)
    W[i, j] = sum_u P_iu[i, u]^alpha * P_ui[u, j]^alpha / popularity_j^beta

Each item keeps its `neighbors` largest similarities (the item itself excluded); a user's
score for j is the sum of W[i, j] over the items i in their history. Dacrema et al. (2019)
found it one of the hardest baselines to beat. W is built in blocks of items, so the dense
intermediate never exceeds one block of rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import Recommender, csr_from_state, csr_state
from recsys_cli.models.item_knn import keep_top_per_row, sparse_row_topk
from recsys_cli.models.params import StrictParams, params_class

ITEMS_PER_BLOCK = 2048


@params_class
def RP3betaParams():
    from pydantic import Field

    class RP3betaParams(StrictParams.build()):
        alpha: float = Field(1.0, ge=0, description="exponent of the transition probabilities")
        beta: float = Field(0.5, ge=0, description="popularity penalty of the arrival item")
        neighbors: int = Field(100, ge=1, le=100_000, description="similar items kept per item")
        normalize: bool = Field(False, description="L1-normalise each item's kept similarities")

    return RP3betaParams


class RP3beta(Recommender):
    Params = RP3betaParams
    has_similar_items = True
    input_kind = "binary"  # a random walk over the interaction graph
    tune_space = {
        "alpha": {"low": 0.0, "high": 2.0},
        "beta": {"low": 0.0, "high": 1.0},
        "neighbors": {"low": 5, "high": 1000, "log": True, "type": "int"},
        "normalize": {"choices": [False, True]},
    }

    def fit(self, train):
        self.n_items = train.shape[1]
        p = self.params
        binary = train.astype(np.float64)  # already binary (input_kind)
        users_to_items = _powered(_row_normalised(binary), p.alpha)
        items_to_users = _powered(_row_normalised(binary.T.tocsr()), p.alpha)
        popularity = np.asarray(binary.sum(axis=0)).ravel()
        penalty = np.where(popularity > 0, np.maximum(popularity, 1.0) ** -p.beta, 0.0)
        blocks = []
        for start in range(0, self.n_items, ITEMS_PER_BLOCK):
            block = (items_to_users[start:start + ITEMS_PER_BLOCK] @ users_to_items @ sp.diags(penalty)).tocsr()
            row_of = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
            block.data[block.indices == start + row_of] = 0  # the item itself is no neighbour
            block.eliminate_zeros()
            blocks.append(keep_top_per_row(block, p.neighbors))
        similarity = sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, 0), dtype=np.float32)
        if p.normalize:
            similarity = _row_normalised(similarity)
        self.similarity = similarity.astype(np.float32)
        return self

    def score(self, users, history):
        return (history @ self.similarity).toarray()

    def similar_items(self, items, k):
        return sparse_row_topk(self.similarity[items], items, k)

    def state(self):
        return csr_state(self.similarity, "similarity")

    def set_state(self, arrays):
        self.similarity = csr_from_state(arrays, "similarity")


def _row_normalised(matrix):
    sums = np.asarray(abs(matrix).sum(axis=1)).ravel()
    return (sp.diags(np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)) @ matrix).tocsr()


def _powered(matrix, exponent: float):
    out = matrix.copy()
    out.data = out.data ** exponent
    return out
