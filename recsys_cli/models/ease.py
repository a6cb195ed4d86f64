"""EASE (Steck 2019): closed-form item-item weights B = I - P diagMat(1 / diag(P)),
P = (X^T X + l2 I)^-1, diagonal forced to zero. Dense items x items, so the catalogue must fit:
the memory is checked before anything is allocated."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recsys_cli.errors import InputError
from recsys_cli.models.base import Recommender, similar_from_rows
from recsys_cli.models.topk import in_batches, rows_per_batch

DENSE_COPIES = 3  # the Gram matrix, its inverse and the float32 weights live at once


class EASEParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    l2: float = Field(300.0, gt=0, description="L2 regularisation on the item-item weights")


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


def check_fits(n_items: int, available: int | None = None) -> None:
    need = DENSE_COPIES * 8 * n_items * n_items
    available = available_memory_bytes() if available is None else available
    if need > 0.8 * available:
        raise InputError(
            f"EASE needs about {need / 2**30:.1f} GiB for {n_items:,} items (items x items, dense) "
            f"and {available / 2**30:.1f} GiB is available. Shrink the catalogue when ingesting, e.g. "
            "`--min-item-interactions 20`, or `--debug-slice ITEM_PCT USER_PCT`, or drop EASE for "
            "this dataset"
        )


class EASE(Recommender):
    Params = EASEParams
    has_similar_items = True
    input_kind = "binary"
    tune_space = {"l2": {"low": 1.0, "high": 10_000.0, "log": True}}

    def fit(self, train):
        self.n_items = train.shape[1]
        check_fits(self.n_items)
        binary = (train > 0).astype(np.float64)
        gram = (binary.T @ binary).toarray()
        gram[np.diag_indices_from(gram)] += self.params.l2
        inverse = np.linalg.inv(gram)
        del gram
        weights = inverse / (-np.diag(inverse))
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights.astype(np.float32)
        return self

    def score(self, users, history):
        return np.asarray((history > 0).astype(np.float32) @ self.weights)

    def similar_items(self, items, k):
        return in_batches(lambda batch: similar_from_rows(self.weights[batch], batch, k), items,
                          rows_per_batch(self.n_items))

    def state(self):
        return {"weights": self.weights}

    def set_state(self, arrays):
        self.weights = arrays["weights"]
