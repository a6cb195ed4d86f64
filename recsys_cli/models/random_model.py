"""Random recommendations: uniform over the catalogue, or weighted by popularity."""

from __future__ import annotations

from typing import Literal

import numpy as np

from recsys_cli.models.base import Recommender, item_popularity
from recsys_cli.models.params import StrictParams, params_class


@params_class
def RandomParams():
    class RandomParams(StrictParams.build()):
        weighting: Literal["uniform", "popularity"] = "uniform"

    return RandomParams


class RandomModel(Recommender):
    """Gumbel-top-k: ranking log(p_i) + Gumbel noise samples items without replacement with
    probability proportional to p_i. The noise of (user, item) is a counter-based hash of
    (seed, user, item), so a user's list is the same whatever batch the user comes in."""

    Params = RandomParams
    tune_space = {"weighting": {"choices": ["uniform", "popularity"]}}

    def fit(self, train):
        self.n_items = train.shape[1]
        popularity = item_popularity(train) + 1.0
        weights = popularity if self.params.weighting == "popularity" else np.ones_like(popularity)
        self.log_weights = np.log(weights / weights.sum()).astype(np.float32)
        return self

    def score(self, users, history):
        return self.log_weights + gumbel_noise(self.seed, np.asarray(users), self.n_items)

    def state(self):
        return {"log_weights": self.log_weights}

    def set_state(self, arrays):
        self.log_weights = arrays["log_weights"]


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective uint64 mix whose outputs pass BigCrush."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def gumbel_noise(seed: int, users: np.ndarray, n_items: int) -> np.ndarray:
    """float32 (len(users), n_items) standard Gumbel draws, each a function of (seed, user,
    item) alone (vectorised; no generator state carried between users or batches)."""
    key = np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]
    user_keys = _splitmix64(key ^ users.astype(np.uint64))
    with np.errstate(over="ignore"):
        bits = _splitmix64(user_keys[:, None] ^ (np.arange(n_items, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)))
    uniform = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # in (0, 1)
    return (-np.log(-np.log(uniform))).astype(np.float32)
