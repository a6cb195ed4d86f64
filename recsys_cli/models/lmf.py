"""Logistic Matrix Factorization (Johnson 2014) through implicit. Hogwild SGD: not bitwise
reproducible when multithreaded."""

from __future__ import annotations

import numpy as np

from recsys_cli.models.factorization import ImplicitFactorModel
from recsys_cli.models.params import StrictParams, params_class


@params_class
def LMFParams():
    from pydantic import Field

    class LMFParams(StrictParams.build()):
        factors: int = Field(30, ge=1, le=4096)
        learning_rate: float = Field(1.0, gt=0)
        regularization: float = Field(0.6, ge=0)
        iterations: int = Field(30, ge=1, le=10_000)
        neg_prop: int = Field(30, ge=1, le=1000, description="negatives sampled per positive")

    return LMFParams


class LMF(ImplicitFactorModel):
    Params = LMFParams
    deterministic = False
    tune_space = {
        "factors": {"low": 16, "high": 128, "log": True, "type": "int"},
        "learning_rate": {"low": 0.1, "high": 3.0, "log": True},
        "regularization": {"low": 0.01, "high": 10.0, "log": True},
        "iterations": {"choices": [20, 30, 50]},
    }

    def build(self):
        from implicit.cpu.lmf import LogisticMatrixFactorization

        p = self.params
        return LogisticMatrixFactorization(
            factors=p.factors, learning_rate=p.learning_rate, regularization=p.regularization,
            iterations=p.iterations, neg_prop=p.neg_prop, random_state=self.seed,
            num_threads=self.threads, dtype=np.float32,
        )
