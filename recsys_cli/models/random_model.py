"""Random recommendations: uniform over the catalogue, or weighted by popularity."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from recsys_cli.models.base import Recommender, item_popularity


class RandomParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weighting: Literal["uniform", "popularity"] = "uniform"


class RandomModel(Recommender):
    """Gumbel-top-k: ranking log(p_i) + Gumbel noise samples items without replacement with
    probability proportional to p_i. A batch's noise is seeded by (seed, its first user, its
    size); batches depend only on the catalogue size, so a rerun gives the same lists."""

    Params = RandomParams
    tune_space = {"weighting": {"choices": ["uniform", "popularity"]}}

    def fit(self, train):
        self.n_items = train.shape[1]
        popularity = item_popularity(train) + 1.0
        weights = popularity if self.params.weighting == "popularity" else np.ones_like(popularity)
        self.log_weights = np.log(weights / weights.sum()).astype(np.float32)
        return self

    def score(self, users, history):
        rng = np.random.default_rng([self.seed, int(users[0]) if len(users) else 0, len(users)])
        return self.log_weights + rng.gumbel(size=(len(users), self.n_items)).astype(np.float32)

    def state(self):
        return {"log_weights": self.log_weights}

    def set_state(self, arrays):
        self.log_weights = arrays["log_weights"]
