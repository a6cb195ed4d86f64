"""Non-personalised baselines: global popularity, and seed 003's PersonalTopPopularV2."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from recsys_cli.models.base import Recommender, item_popularity
from recsys_cli.models.topk import ranked_unseen


class Popular(Recommender):
    """Items ranked by the number of users who interacted with them in train."""

    def fit(self, train):
        self.n_items = train.shape[1]
        self.popularity = item_popularity(train)
        return self

    def score(self, users, history):
        return np.broadcast_to(self.popularity, (len(users), self.n_items)).copy()

    def recommend(self, users, history, k, filter_seen=True, fold_in=False):
        """One ranking for everyone: each user's list is it with their seen items skipped."""
        ranking = np.argsort(-self.popularity, kind="stable")  # ties by item index
        step = 8192  # users per window mask: bounded by step x (k + the batch's longest history)
        users = np.asarray(users)
        parts = [ranked_unseen(ranking, self.popularity[ranking], history[users[s:s + step]], k, filter_seen)
                 for s in range(0, len(users), step)]
        if not parts:
            k = min(k, self.n_items)
            return np.empty((0, k), np.int32), np.empty((0, k), np.float32)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

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
    recommend = Recommender.recommend  # personal: scores differ per user

    def score(self, users, history):
        scores = super().score(users, history)
        top = self.popularity.max() + 1.0
        rows = np.repeat(np.arange(len(users)), np.diff(history.indptr))
        scores[rows, history.indices] += top * (1.0 + history.data.astype(np.float32))
        return scores
