"""EASE (Steck 2019): closed-form item-item weights B = I - P diagMat(1 / diag(P)),
P = (X^T X + l2 I)^-1, diagonal forced to zero. Dense items x items, so the catalogue must fit:
the memory is checked before anything is allocated.

Everything is float32 and in place: the Gram matrix becomes P, P becomes the weights.
Two ways to get P:
- direct: one inverse of G + l2 I (LAPACK, ~2 n^3 flops) — the cheapest for a single fit;
- eigen: G = V diag(w) V^T once (~9 n^3 flops), then every l2 is P = S S^T with
  S = V diag(1 / sqrt(w + l2)): a column rescale and one product. Worth it only when many
  l2 values are fitted on the same matrix — a tuning study (from EIGEN_BREAK_EVEN fits). `expect_fits(train, n)` (called
  by the tuner before its trials) decomposes when n reaches EIGEN_BREAK_EVEN, and the
  decomposition is kept in process, keyed by the matrix's fingerprint, for every later fit
  of that matrix (one matrix at a time: it is n^2 floats).
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from recsys_cli.core.errors import InputError
from recsys_cli.models.base import Recommender, similar_from_rows
from recsys_cli.models.params import StrictParams, params_class
from recsys_cli.models.topk import in_batches, rows_per_batch

FLOAT_BYTES = 4
# float32 n x n arrays alive at the peak: direct = the Gram/P buffer + LAPACK's LU copy and
# right-hand side; eigen fit = V (cached) + S + P; decomposition = G/V + syevd's 2 n^2 workspace.
DENSE_COPIES = 3
# Fits of one matrix from which decomposing pays. benchmarks/ease_tuning.py --items 8000
# --fits 3, with the float32 direct inverse: 6.6 s per direct fit; the decomposition ~50 s once,
# then ~3 s per l2. Break-even near 15 fits (a 30-trial study pays, a 5-trial one does not).
EIGEN_BREAK_EVEN = 15

_decomposition: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # fingerprint -> (w, V), one entry
_decomposition_lock = threading.Lock()


@params_class
def EASEParams():
    from pydantic import Field

    class EASEParams(StrictParams.build()):
        l2: float = Field(300.0, gt=0, description="L2 regularisation on the item-item weights")

    return EASEParams


def available_memory_bytes() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def estimate(n_items: int) -> dict:
    """What a fit of n_items costs, before anything is allocated."""
    return {"n_items": n_items, "peak_bytes": DENSE_COPIES * FLOAT_BYTES * n_items * n_items,
            "inverse_gflop": round(2 * n_items**3 / 1e9, 1), "decomposition_gflop": round(9 * n_items**3 / 1e9, 1)}


def check_fits(n_items: int, available: int | None = None) -> None:
    need = estimate(n_items)["peak_bytes"]
    available = available_memory_bytes() if available is None else available
    if need > 0.8 * available:
        raise InputError(
            f"EASE needs about {need / 2**30:.1f} GiB for {n_items:,} items (items x items, dense float32) "
            f"and {available / 2**30:.1f} GiB is available. Shrink the catalogue when ingesting, e.g. "
            "`--min-item-interactions 20`, or `--debug-slice ITEM_PCT USER_PCT`, or drop EASE for "
            "this dataset"
        )


def binary_fingerprint(train) -> str:
    """Identity of the binarised matrix EASE sees: its shape and sparsity structure."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.asarray(train.shape, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(train.indptr).tobytes())
    digest.update(np.ascontiguousarray(train.indices).tobytes())
    return digest.hexdigest()


def gram(train) -> np.ndarray:
    """X^T X of the binarised train matrix, dense float32."""
    binary = train.astype(np.float32, copy=True)
    binary.data[:] = 1.0
    binary.eliminate_zeros()
    return (binary.T @ binary).toarray()


def decompose(train) -> tuple[np.ndarray, np.ndarray]:
    """(w, V) of X^T X, cached for this matrix (replacing any other)."""
    import scipy.linalg

    key = binary_fingerprint(train)
    with _decomposition_lock:
        if key not in _decomposition:
            check_fits(train.shape[1])
            _decomposition.clear()  # free the old n^2 before allocating the new one
            w, v = scipy.linalg.eigh(gram(train), overwrite_a=True, driver="evd", check_finite=False)
            _decomposition[key] = (np.maximum(w, 0.0).astype(np.float32), v)  # G is PSD; drop roundoff
        return _decomposition[key]


def _inverse_direct(train, l2: float) -> np.ndarray:
    """(G + l2 I)^-1 by LAPACK in float32, overwriting G: numpy's inv computes in float64
    (a 6,170-item fit peaked at 1,353 MiB through it, for a 145 MiB matrix)."""
    import scipy.linalg

    g = gram(train)
    g[np.diag_indices_from(g)] += np.float32(l2)
    return scipy.linalg.inv(g, overwrite_a=True, check_finite=False)


def _inverse_from(decomposition, l2: float) -> np.ndarray:
    w, v = decomposition
    scaled = v * (1.0 / np.sqrt(w + np.float32(l2)))
    return np.matmul(scaled, scaled.T, out=np.empty_like(scaled))


def zero_diagonal_weights(inverse: np.ndarray) -> np.ndarray:
    """EASE's weights from P = (G + penalty)^-1, in place: B = I - P / diag(P), i.e. column j
    divided by -P_jj and the diagonal zero (an item never predicts itself)."""
    inverse /= -np.diag(inverse).copy()
    inverse[np.diag_indices_from(inverse)] = 0.0
    return inverse


class ItemWeightsModel(Recommender):
    """A linear item-item model: a user's scores are their history (binarised) times a dense
    item x item weight matrix `weights`; similar items are the largest weights of an item's
    row. EASE and the denoising autoencoders (dlae, edlae) are this with their own fit."""

    has_similar_items = True
    weights: np.ndarray

    def set_weights(self, weights: np.ndarray) -> None:
        """Keep the weights in row-major order: a sparse history times a column-major matrix
        makes scipy copy the whole matrix on every call (every evaluation batch, every query).
        LAPACK's inverse and a saved column-major array both come out column-major; the one
        copy here, once the fit's work arrays are gone, halved EASE's evaluation at 3,000 items."""
        self.weights = np.ascontiguousarray(weights)

    def score(self, users, history):
        return np.asarray((history > 0).astype(np.float32) @ self.weights)

    def similar_items(self, items, k):
        return in_batches(lambda batch: similar_from_rows(self.weights[batch], batch, k), items,
                          rows_per_batch(self.n_items))

    def state(self):
        return {"weights": self.weights}

    def set_state(self, arrays):
        self.set_weights(arrays["weights"])


class EASE(ItemWeightsModel):
    Params = EASEParams
    input_kind = "binary"
    tune_space = {"l2": {"low": 1.0, "high": 10_000.0, "log": True}}

    @classmethod
    def expect_fits(cls, train, n_fits: int) -> None:
        """Told by the tuner that `n_fits` fits of this matrix follow: decompose once if it pays."""
        if n_fits >= EIGEN_BREAK_EVEN:
            decompose(train)

    def fit(self, train):
        self.n_items = train.shape[1]
        check_fits(self.n_items)
        cached = _decomposition.get(binary_fingerprint(train))
        self.solver = "eigen (cached)" if cached is not None else "direct inverse"
        inverse = _inverse_from(cached, self.params.l2) if cached is not None else _inverse_direct(train, self.params.l2)
        self.set_weights(zero_diagonal_weights(inverse))
        return self

    def report_details(self) -> dict:
        return {"solver": self.solver, "estimate": estimate(self.n_items)}

