"""Bayesian Personalized Ranking (Rendle et al. 2009) through implicit. Hogwild SGD: not
bitwise reproducible when multithreaded."""

from __future__ import annotations

import numpy as np

from recsys_cli.models.factorization import ImplicitFactorModel
from recsys_cli.models.params import StrictParams, params_class


@params_class
def BPRParams():
    from pydantic import Field

    class BPRParams(StrictParams.build()):
        factors: int = Field(64, ge=1, le=4096)
        learning_rate: float = Field(0.05, gt=0)
        regularization: float = Field(0.01, ge=0)
        iterations: int = Field(100, ge=1, le=10_000)

    return BPRParams


class BPR(ImplicitFactorModel):
    Params = BPRParams
    deterministic = False
    tune_space = {
        "factors": {"low": 16, "high": 512, "log": True, "type": "int"},
        "learning_rate": {"low": 1e-4, "high": 0.3, "log": True},
        "regularization": {"low": 1e-5, "high": 1.0, "log": True},
        "iterations": {"low": 20, "high": 400, "log": True, "type": "int"},
    }

    def build(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        p = self.params
        return BayesianPersonalizedRanking(
            factors=p.factors, learning_rate=p.learning_rate, regularization=p.regularization,
            iterations=p.iterations, random_state=self.seed, num_threads=self.threads, dtype=np.float32,
        )
