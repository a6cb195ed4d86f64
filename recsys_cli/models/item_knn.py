"""Item-to-item nearest neighbours (seed 000's item2item), similarities through `implicit`.

similarity:
- cosine, bm25, tfidf: implicit.nearest_neighbours (its all-pairs kNN, `neighbors` kept per item)
- cooccurrence: raw X^T X counts (seed 000), via implicit's ItemItemRecommender
- jaccard: |U_i & U_j| / |U_i | U_j| on binarised interactions, computed here
- `shrink` (cosine, jaccard): the denominator gets + shrink, pulling similarities resting on
  few common users towards 0 (Koren 2008's shrinkage); cosine with shrink > 0 is computed
  here from X^T X, as implicit has no shrinkage. bm25, tfidf and cooccurrence ignore it.
A user's score for item j is the sum of similarities from the items in their history to j;
`max_items` scores from at most that many of the user's items (a seeded random subset, as
seed 000 does), which bounds the cost for heavy users.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import Recommender, csr_from_state, csr_state
from recsys_cli.models.params import params_class
from recsys_cli.models.weighting import WeightingParams, item_totals, weigh


@params_class
def ItemKNNParams():
    from pydantic import Field

    class ItemKNNParams(WeightingParams.build()):
        similarity: Literal["cosine", "cooccurrence", "jaccard", "bm25", "tfidf"] = "cosine"
        neighbors: int = Field(100, ge=1, le=100_000, description="similar items kept per item")
        max_items: int | None = Field(None, ge=1, description="score from at most this many of a user's items")
        bm25_k1: float = Field(1.2, gt=0)
        bm25_b: float = Field(0.75, ge=0, le=1)
        shrink: float = Field(0.0, ge=0, description="cosine/jaccard: added to the similarity's denominator")

    return ItemKNNParams


class ItemKNN(Recommender):
    Params = ItemKNNParams
    has_similar_items = True
    tune_space = {
        "similarity": {"choices": ["cosine", "bm25", "tfidf", "jaccard", "cooccurrence"]},
        "neighbors": {"low": 5, "high": 2000, "log": True, "type": "int"},
        "shrink": {"low": 0.0, "high": 1000.0},
        "weighting": {"choices": ["none", "binary", "log1p"]},
    }

    @classmethod
    def unused_params(cls, params: dict) -> set[str]:
        unused = super().unused_params(params)
        similarity = params.get("similarity")
        if similarity != "bm25":
            unused |= {"bm25_k1", "bm25_b"}
        if similarity not in ("cosine", "jaccard"):
            unused.add("shrink")
        return unused

    def fit(self, train):
        self.n_items = train.shape[1]
        p = self.params
        self.item_totals = item_totals(train)
        train = weigh(p, train, self.item_totals)
        if p.similarity == "jaccard":
            self.similarity = _jaccard(train, p.neighbors, p.shrink)
        elif p.similarity == "cosine" and p.shrink > 0:
            self.similarity = _shrunk_cosine(train, p.neighbors, p.shrink)
        else:
            from implicit.nearest_neighbours import (
                BM25Recommender,
                CosineRecommender,
                ItemItemRecommender,
                TFIDFRecommender,
            )

            model = {
                "cosine": lambda: CosineRecommender(K=p.neighbors, num_threads=self.threads),
                "cooccurrence": lambda: ItemItemRecommender(K=p.neighbors, num_threads=self.threads),
                "tfidf": lambda: TFIDFRecommender(K=p.neighbors, num_threads=self.threads),
                "bm25": lambda: BM25Recommender(K=p.neighbors, K1=p.bm25_k1, B=p.bm25_b, num_threads=self.threads),
            }[p.similarity]()
            import warnings

            from implicit.utils import ParameterWarning

            with warnings.catch_warnings():  # implicit's own normalisation hands itself a COO matrix
                warnings.simplefilter("ignore", ParameterWarning)
                model.fit(train.astype(np.float64), show_progress=False)  # its kNN kernel takes doubles
            self.similarity = model.similarity.tocsr().astype(np.float32)
        self.similarity.setdiag(0)
        self.similarity.eliminate_zeros()
        return self

    def score(self, users, history):
        history = weigh(self.params, history, self.item_totals)  # as the similarities were fitted
        if self.params.max_items is not None:
            history = _keep_random_per_row(history, self.params.max_items, self.seed)
        return (history @ self.similarity).toarray()

    def similar_items(self, items, k):
        return sparse_row_topk(self.similarity[items], items, k)

    def state(self):
        return {**csr_state(self.similarity, "similarity"), "item_totals": self.item_totals}

    def set_state(self, arrays):
        self.similarity = csr_from_state(arrays, "similarity")
        self.item_totals = arrays.get("item_totals")


def _jaccard(train, neighbors: int, shrink: float = 0.0):
    binary = (train > 0).astype(np.float32).tocsc()
    counts = np.asarray(binary.sum(axis=0)).ravel()

    def score(overlap, start):
        union = counts[overlap.row + start] + counts[overlap.col] - overlap.data
        return overlap.data / (np.maximum(union, 1) + shrink)

    return _top_similar_in_blocks(binary, neighbors, score, drop_self=False)


def _shrunk_cosine(train, neighbors: int, shrink: float):
    """x_i . x_j / (|x_i| |x_j| + shrink) over the item columns of train (its weights)."""
    columns = train.astype(np.float64).tocsc()
    norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0)).ravel())
    return _top_similar_in_blocks(
        columns, neighbors, lambda product, start: product.data / (norms[product.row + start] * norms[product.col] + shrink))


ITEMS_PER_BLOCK = 2048  # item rows of X^T X formed at once: the whole product of a large catalogue need not fit


def _top_similar_in_blocks(columns, neighbors: int, score, drop_self: bool = True):
    """The top `neighbors` of each item's similarity row, built ITEMS_PER_BLOCK rows of the
    co-occurrence product at a time. `score(block_product_coo, first_row)` gives each stored
    cell's similarity."""
    n_items = columns.shape[1]
    blocks = []
    for start in range(0, n_items, ITEMS_PER_BLOCK):
        product = (columns[:, start:start + ITEMS_PER_BLOCK].T @ columns).tocoo()
        if drop_self:
            keep = product.row + start != product.col
            product = sp.coo_matrix((product.data[keep], (product.row[keep], product.col[keep])), shape=product.shape)
        similarity = sp.csr_matrix((score(product, start), (product.row, product.col)), shape=product.shape)
        blocks.append(keep_top_per_row(similarity, neighbors))
    return sp.vstack(blocks, format="csr", dtype=np.float32) if blocks else sp.csr_matrix((0, n_items), dtype=np.float32)


def keep_top_per_row(matrix, k: int):
    """Keep the k largest values of each CSR row (ties by column), vectorised."""
    matrix = matrix.tocsr()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = np.lexsort((matrix.indices, -matrix.data, rows))
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    keep = order[rank < k]
    return sp.csr_matrix((matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape, dtype=np.float32)


def sparse_row_topk(rows, anchors: np.ndarray, k: int):
    """Top-k (ids, scores) of each sparse similarity row, the anchor itself excluded and ties
    by item index; rows with fewer than k neighbours are padded with id -1, score -inf."""
    rows = rows.tocsr()
    row_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    keep = rows.indices != np.asarray(anchors)[row_of]
    row_of, columns, values = row_of[keep], rows.indices[keep], rows.data[keep]
    order = np.lexsort((columns, -values, row_of))
    starts = np.searchsorted(row_of[order], np.arange(rows.shape[0]))
    rank = np.arange(len(order)) - starts[row_of[order]]
    chosen = order[rank < k]
    ids = np.full((rows.shape[0], k), -1, dtype=np.int32)
    scores = np.full((rows.shape[0], k), -np.inf, dtype=np.float32)
    ids[row_of[chosen], rank[rank < k]] = columns[chosen]
    scores[row_of[chosen], rank[rank < k]] = values[chosen]
    return ids, scores


def _keep_random_per_row(history, n: int, seed: int):
    """At most n randomly chosen items of each row (seeded)."""
    keys = np.random.default_rng(seed).random(history.nnz)
    rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
    order = np.lexsort((keys, rows))
    rank = np.arange(len(order)) - history.indptr[rows[order]]
    keep = order[rank < n]
    return sp.csr_matrix((history.data[keep], (rows[keep], history.indices[keep])), shape=history.shape)
