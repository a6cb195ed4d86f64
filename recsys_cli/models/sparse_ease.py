"""Sparse EASE for catalogues whose dense items x items inverse does not fit (the Dzen shape:
104,503 items, 43 GB per float32 copy): EASE with each item's regressors restricted to its
`neighbors` nearest items (by cosine of their user sets, or by raw co-occurrence), solved
exactly under that restriction.

EASE's objective ||X - X B||^2 + l2 ||B||^2 with diag(B) = 0 is a sum of independent
problems, one per column j of B. Allowing column j non-zeros only on the set N(j) (its top
co-occurring items, j excluded) leaves one ridge regression per item:

    B[N(j), j] = (G[N, N] + l2 I)^-1 G[N, j],   G = X^T X,

which is also what dense EASE's -P_Nj / P_jj is when N(j) holds every other item (the block
inverse identity), so neighbors -> n_items gives EASE exactly. The cost is k^3 per item and
the memory O(n_items * k), never n_items^2: the neighbour lists come from X^T X a block of
rows at a time (sparse), and each batch of items gets its k x k systems from the dense Gram
block of the union U of its neighbour sets, G[U, U] = X[:, U]^T X[:, U] (a batch is halved
until |U| fits UNION_BUDGET). The systems (symmetric positive definite) are solved batched in
float32 by Cholesky (scipy's batched solve, assume_a="pos": half the time of numpy's LU), on one
BLAS thread.

Why not the `sansa` package (Spisak et al., RecSys 2023): sansa 1.1.0 needs scikit-sparse,
which PyPI has only as a source archive that compiles against SuiteSparse's CHOLMOD headers
(a system package and a C toolchain), so it does not install into a fresh virtualenv.

The expected peak memory is computed before anything is allocated (`estimate`), shown on the
progress line ("... expected peak X MiB") and in report_details, and a fit that would not
fit in 80% of the available memory is refused with the figure.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recsys_cli.core.errors import InputError
from recsys_cli.models.base import Recommender, csr_from_state, csr_state
from recsys_cli.models.ease import available_memory_bytes, gram
from recsys_cli.models.factorization import single_threaded_blas
from recsys_cli.models.item_knn import sparse_row_topk
from recsys_cli.models.params import StrictParams, params_class
from recsys_cli.models.topk import SCORE_BUDGET_BYTES, in_batches, rows_per_batch, topk

UNION_BUDGET = 8192  # items in one batch's dense Gram block G[U, U] (256 MiB of float32)
SYSTEM_BUDGET_BYTES = 256 * 2**20  # one batch's k x k systems, with LAPACK's LU copy
NEIGHBOR_ROW_BYTES = 32  # per entry of a block of X^T X rows: sparse product, dense value, top-k's keys


@params_class
def SparseEASEParams():
    from pydantic import Field

    class SparseEASEParams(StrictParams.build()):
        l2: float = Field(300.0, gt=0, description="L2 regularisation on the item-item weights (as EASE's)")
        neighbors: int = Field(200, ge=1, le=5000, description="regressors per item: its top co-occurring items")
        # cosine: at every neighbour count measured (50, 100, 200; benchmarks/README.md) it came
        # closer to dense EASE than raw counts, which favour popular items.
        neighbor_by: Literal["cooccurrence", "cosine"] = Field(
            "cosine", description="how the regressors are chosen: their cosine, or raw X^T X counts")

    return SparseEASEParams


def estimate(n_items: int, neighbors: int, nnz: int = 0) -> dict:
    """What a fit costs, before anything is allocated: float32 weights with int32 indices
    (x2 while the CSR is assembled), the transposed train matrix (`nnz` likes), the neighbour
    lists, one block of X^T X rows, one batch's Gram block (from a sparse product: 16 bytes an
    entry; a catalogue within UNION_BUDGET: the whole G once, and its padded copy) and systems."""
    k = min(neighbors, max(n_items - 1, 1))
    union = min(UNION_BUDGET, n_items) + 1
    parts = {
        "weights": 2 * n_items * k * 8,
        "train_by_items": nnz * 8 + (n_items + 1) * 8,
        "neighbor_lists": n_items * k * 4,
        "neighbor_search": min(neighbor_rows(n_items), n_items) * n_items * NEIGHBOR_ROW_BYTES,
        "gram_block": (2 if n_items <= UNION_BUDGET else 4) * union * union * 4,
        "systems": items_per_batch(n_items, k) * k * k * 8,
    }
    return {"n_items": n_items, "neighbors": k, "peak_bytes": int(sum(parts.values())), "parts": parts,
            "dense_ease_bytes": 3 * 4 * n_items * n_items}


def items_per_batch(n_items: int, k: int) -> int:
    """Items whose k x k float32 systems (and LAPACK's copies) fit SYSTEM_BUDGET_BYTES."""
    return max(1, min(n_items, SYSTEM_BUDGET_BYTES // (8 * k * k)))


def neighbor_rows(n_items: int) -> int:
    """Rows of X^T X computed at once while choosing neighbours."""
    return max(1, SCORE_BUDGET_BYTES // (NEIGHBOR_ROW_BYTES * max(1, n_items)))


def check_fits(cost: dict, available: int | None = None) -> None:
    available = available_memory_bytes() if available is None else available
    if cost["peak_bytes"] > 0.8 * available:
        raise InputError(
            f"sparse EASE with {cost['neighbors']} neighbours needs about {cost['peak_bytes'] / 2**30:.1f} GiB for "
            f"{cost['n_items']:,} items and {available / 2**30:.1f} GiB is available: lower `neighbors`")


class GramRows:
    """Rows and blocks of G = X^T X: from one dense copy when the catalogue fits the union
    budget (computed once), else from sparse products of the needed items' columns."""

    def __init__(self, train):
        self.by_items = train.T.tocsr()
        self.dense = gram(train) if train.shape[1] <= UNION_BUDGET else None

    def rows(self, items) -> np.ndarray:
        if self.dense is not None:
            return self.dense[items]
        return (self.by_items[items] @ self.by_items.T).toarray()

    def block(self, union) -> np.ndarray:
        """G[union, union] with one more zero row and column (where padding points)."""
        out = np.zeros((len(union) + 1, len(union) + 1), dtype=np.float32)
        if self.dense is not None:
            out[:-1, :-1] = self.dense[np.ix_(union, union)]
        else:
            part = self.by_items[union]
            out[:-1, :-1] = (part @ part.T).toarray()
        return out


def neighbor_lists(grams: GramRows, k: int, by: str) -> np.ndarray:
    """(n_items, k) int32: each item's top-k co-occurring items (itself excluded, ties by
    index), -1 where it co-occurs with fewer than k items."""
    counts = np.asarray(grams.by_items.sum(axis=1)).ravel()
    scale = (1.0 / np.sqrt(np.maximum(counts, 1.0))).astype(np.float32)
    n_items = len(counts)

    def block(items):
        rows = grams.rows(items).astype(np.float32, copy=True)
        if by == "cosine":
            rows *= scale[items, None] * scale[None, :]
        rows[np.arange(len(items)), items] = -np.inf
        ids, values = topk(rows, k)
        return np.where(values > 0, ids, -1).astype(np.int32), values

    ids, _ = in_batches(block, np.arange(n_items), neighbor_rows(n_items))
    return ids


def solve_columns(gram_block: np.ndarray, union: np.ndarray, items: np.ndarray, neighbors: np.ndarray,
                  l2: float) -> np.ndarray:
    """(len(items), k) float32: the ridge weights of each item on its neighbours, from the Gram
    block of `union` (sorted, holding items and neighbours); padding (-1) gets weight 0 (its row
    and column of the system are zero but for l2 on the diagonal)."""
    at = np.where(neighbors >= 0, np.searchsorted(union, neighbors), len(union))
    systems = gram_block[at[:, :, None], at[:, None, :]]
    systems[:, np.arange(at.shape[1]), np.arange(at.shape[1])] += np.float32(l2)
    targets = gram_block[at, np.searchsorted(union, items)[:, None]]
    with single_threaded_blas():  # many small systems: a BLAS thread pool only spins (100x slower)
        return scipy.linalg.solve(systems, targets[:, :, None], assume_a="pos", overwrite_a=True,
                                  check_finite=False)[:, :, 0]


class SparseEASE(Recommender):
    Params = SparseEASEParams
    has_similar_items = True
    input_kind = "binary"
    tune_space = {
        "l2": {"low": 1.0, "high": 10_000.0, "log": True},
        "neighbors": {"low": 50, "high": 500, "log": True, "type": "int"},
    }

    def fit(self, train):
        self.n_items = n_items = train.shape[1]
        p = self.params
        self.cost = estimate(n_items, p.neighbors, train.nnz)
        check_fits(self.cost)
        k = self.cost["neighbors"]
        batch = items_per_batch(n_items, k)
        self.report_progress(0, n_items, f"neighbour lists (expected peak {self.cost['peak_bytes'] / 2**20:,.0f} MiB)")
        grams = GramRows(train)
        neighbors = neighbor_lists(grams, k, p.neighbor_by)
        whole = grams.block(np.arange(n_items)) if grams.dense is not None else None
        values = np.zeros(neighbors.shape, dtype=np.float32)
        pending = [np.arange(start, min(start + batch, n_items)) for start in range(0, n_items, batch)]
        done = 0
        while pending:
            items = pending.pop()
            wanted = np.union1d(neighbors[items][neighbors[items] >= 0], items)
            if len(wanted) > UNION_BUDGET and len(items) > 1:  # halve until the Gram block fits
                pending += np.array_split(items, 2)
                continue
            if whole is not None:
                values[items] = solve_columns(whole, np.arange(n_items), items, neighbors[items], p.l2)
            else:
                values[items] = solve_columns(grams.block(wanted), wanted, items, neighbors[items], p.l2)
            done += len(items)
            self.report_progress(done, n_items, "item regressions")
        keep = neighbors >= 0
        columns = np.repeat(np.arange(n_items, dtype=np.int32), k).reshape(n_items, k)
        # weights[i, j]: how much having item i adds to item j's score (column j regresses on N(j)).
        self.weights = sp.csr_matrix((values[keep], (neighbors[keep], columns[keep])), shape=(n_items, n_items),
                                     dtype=np.float32)
        return self

    def report_details(self) -> dict:
        return {"estimate": self.cost, "weights_nnz": int(self.weights.nnz)}

    def score(self, users, history):
        return ((history > 0).astype(np.float32) @ self.weights).toarray()

    def similar_items(self, items, k):
        return in_batches(lambda batch: sparse_row_topk(self.weights[batch], batch, k), np.asarray(items),
                          rows_per_batch(self.n_items))

    def state(self):
        return csr_state(self.weights, "weights")

    def set_state(self, arrays):
        self.weights = csr_from_state(arrays, "weights")
        self.cost = estimate(self.weights.shape[0], self.params.neighbors)
