"""DLAE: the denoising linear autoencoder of Steck (2020), "Autoencoders that don't overfit
towards the identity" (NeurIPS 2020), in closed form.

Training with dropout (each input entry dropped with probability p, the kept ones scaled by
1 / (1 - p)) on the reconstruction loss ||X - Z B||^2 has, in expectation over the dropout, the
loss (Steck 2020, section 3)

    ||X - X B||^2 + ||Lambda^(1/2) B||^2,   Lambda = p / (1 - p) * diagMat(diag(G)) + l2 * I,

with G = X^T X: dropout is a ridge penalty that weighs row i of B by item i's popularity
G_ii, so a popular item cannot simply predict itself (the identity is what an unregularised
full-rank autoencoder learns). The plain L2 term l2 * I is the paper's combination of both.
Setting the gradient to zero gives

    B = (G + Lambda)^-1 G = I - P Lambda,   P = (G + Lambda)^-1,

so one inverse of G + Lambda (in float32, in place, as EASE's direct path) and a column
rescale give B. With p = 0 it is the ridge solution (G + l2 I)^-1 G. B's diagonal is not
zero, but it only scores items the user already has: with seen items filtered (the default)
it never changes a list; `similar_items` excludes the anchor.

EASE's cached eigendecomposition does not carry over: G + Lambda is G plus a non-scalar
diagonal, whose inverse no decomposition of G gives for free (only p alone would, through
D^-1/2 G D^-1/2; the default search moves both), so every fit is one direct inverse.

EDLAE (models/edlae.py) is the emphasised variant with the diagonal constrained to zero.
"""

from __future__ import annotations

import numpy as np

from recsys_cli.models.ease import ItemWeightsModel, check_fits, estimate, gram
from recsys_cli.models.params import StrictParams, params_class


@params_class
def DLAEParams():
    from pydantic import Field, model_validator

    class DLAEParams(StrictParams.build()):
        # Defaults: the best geometric mean of validation MRR@100 against default EASE over
        # ml-latest-small (>= 4 and all ratings), synthetic ML-1M and Last.fm-style counts
        # (benchmarks/model_defaults.py; the figures in benchmarks/README.md).
        dropout: float = Field(0.5, ge=0, lt=1, description="input dropout probability p")
        l2: float = Field(300.0, ge=0, description="plain L2 regularisation added to the dropout penalty")

        @model_validator(mode="after")
        def _some_regularisation(self):
            if self.dropout == 0 and self.l2 == 0:
                raise ValueError("dropout and l2 cannot both be 0: X^T X alone is singular")
            return self

    return DLAEParams


def penalty(diagonal: np.ndarray, dropout: float, l2: float) -> np.ndarray:
    """diag(Lambda) = p / (1 - p) * G_ii + l2, float32. An item no user has (G_ii = 0) with
    l2 = 0 gets 1: its row and column of G are zero, so any positive value gives it zero weights."""
    values = np.float32(dropout / (1.0 - dropout)) * diagonal + np.float32(l2)
    return np.where(values > 0, values, np.float32(1.0)).astype(np.float32)


def penalised_inverse(train, dropout: float, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """(P, diag(Lambda)) with P = (G + Lambda)^-1, float32, computed in G's buffer."""
    import scipy.linalg

    g = gram(train)
    lam = penalty(np.diag(g).copy(), dropout, l2)
    g[np.diag_indices_from(g)] += lam
    return scipy.linalg.inv(g, overwrite_a=True, check_finite=False), lam


class DLAE(ItemWeightsModel):
    Params = DLAEParams
    input_kind = "binary"
    tune_space = {
        "dropout": {"low": 0.05, "high": 0.9},
        "l2": {"low": 0.1, "high": 5_000.0, "log": True},
    }

    def fit(self, train):
        self.n_items = train.shape[1]
        check_fits(self.n_items)
        weights, lam = penalised_inverse(train, self.params.dropout, self.params.l2)
        weights *= -lam  # B = I - P Lambda: column j of P times -Lambda_jj ...
        weights[np.diag_indices_from(weights)] += 1.0  # ... plus the identity
        self.set_weights(weights)
        return self

    def report_details(self) -> dict:
        return {"estimate": estimate(self.n_items)}

