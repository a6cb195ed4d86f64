"""Logistic Matrix Factorization (Johnson 2014) through implicit. Hogwild SGD: not bitwise
reproducible when multithreaded."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recsys_cli.models.factorization import ImplicitFactorModel


class LMFParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factors: int = Field(30, ge=1, le=4096)
    learning_rate: float = Field(1.0, gt=0)
    regularization: float = Field(0.6, ge=0)
    iterations: int = Field(30, ge=1, le=10_000)
    neg_prop: int = Field(30, ge=1, le=1000, description="negatives sampled per positive")


class LMF(ImplicitFactorModel):
    Params = LMFParams
    deterministic = False

    def build(self):
        from implicit.cpu.lmf import LogisticMatrixFactorization

        p = self.params
        return LogisticMatrixFactorization(
            factors=p.factors, learning_rate=p.learning_rate, regularization=p.regularization,
            iterations=p.iterations, neg_prop=p.neg_prop, random_state=self.seed,
            num_threads=self.threads, dtype=np.float32,
        )
