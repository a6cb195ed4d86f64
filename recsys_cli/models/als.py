"""ALS and iALS through implicit's conjugate-gradient ALS.

implicit treats each stored value as the confidence C of a positive (preference 1) and every
other cell as confidence 1, preference 0. Hence:
- `als`  feeds ones: observed cells weigh the same as unobserved ones, i.e. plain least
  squares over all cells with binary targets (seeds 000/001's ALS);
- `ials` feeds 1 + alpha * r: Hu, Koren & Volinsky (2008)'s confidence.
"""

from __future__ import annotations

import numpy as np

from recsys_cli.models.factorization import ImplicitFactorModel
from recsys_cli.models.params import StrictParams, params_class
from recsys_cli.models.weighting import (
    WeightingParams,
    confidence_matrix,
    item_totals,
    weigh,
)


@params_class
def ALSParams():
    from pydantic import Field

    class ALSParams(StrictParams.build()):
        factors: int = Field(64, ge=1, le=4096)
        regularization: float = Field(0.1, ge=0)
        iterations: int = Field(15, ge=1, le=1000)

    return ALSParams


@params_class
def IALSParams():
    from pydantic import Field

    class IALSParams(ALSParams.build(), WeightingParams.build()):
        alpha: float = Field(10.0, gt=0, description="confidence = 1 + alpha * weight")
        regularization: float = Field(0.05, ge=0)

    return IALSParams


class ALS(ImplicitFactorModel):
    Params = ALSParams
    input_kind = "binary"  # ones: observed cells weigh the same as unobserved ones
    # Wide enough for the literature's optima (Rendle et al. 2022, "Revisiting the
    # performance of iALS"): strong regularisation, many factors, up to 50 iterations.
    tune_space = {
        "factors": {"low": 16, "high": 512, "log": True, "type": "int"},
        "regularization": {"low": 1e-3, "high": 1e3, "log": True},
        "iterations": {"low": 5, "high": 50, "type": "int"},
    }

    def build(self):
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        return AlternatingLeastSquares(
            factors=p.factors, regularization=p.regularization, alpha=1.0, iterations=p.iterations,
            random_state=self.seed, num_threads=self.threads, dtype=np.float32,
        )


class IALS(ALS):
    Params = IALSParams
    input_kind = "weights"
    tune_space = {**ALS.tune_space, "alpha": {"low": 0.01, "high": 100.0, "log": True},
                  "weighting": {"choices": ["none", "log1p", "bm25"]}}
    item_totals = None  # the train matrix's item totals (bm25 weighs history rows with them)

    def fit(self, train, callback=None):
        self.item_totals = item_totals(train)
        return super().fit(train, callback)

    def prepare(self, train):
        return confidence_matrix(weigh(self.params, train, self.item_totals), self.params.alpha)

    def state(self):
        return {**super().state(), "item_totals": self.item_totals}

    def set_state(self, arrays):
        super().set_state(arrays)
        self.item_totals = arrays.get("item_totals")
