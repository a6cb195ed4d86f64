"""Non-personalised baselines: global popularity, and seed 003's PersonalTopPopularV2."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from recsys_cli.models.base import Recommender, item_popularity


class Popular(Recommender):
    """Items ranked by the number of users who interacted with them in train."""

    def fit(self, train):
        self.n_items = train.shape[1]
        self.popularity = item_popularity(train)
        return self

    def score(self, users, history):
        return np.broadcast_to(self.popularity, (len(users), self.n_items)).copy()

    def state(self):
        return {"popularity": self.popularity}

    def set_state(self, arrays):
        self.popularity = arrays["popularity"]


class PersonalPopularParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonalPopular(Popular):
    """A user's own most repeated items first (by summed weight), padded with the global top.

    It recommends seen items by design, so give its model entry `filter_seen: false`
    (with seen items filtered it is the global top).
    """

    Params = PersonalPopularParams

    def score(self, users, history):
        scores = super().score(users, history)
        top = self.popularity.max() + 1.0
        rows = np.repeat(np.arange(len(users)), np.diff(history.indptr))
        scores[rows, history.indices] += top * (1.0 + history.data.astype(np.float32))
        return scores
