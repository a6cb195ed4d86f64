"""Non-personalised baselines: global popularity, and seed 003's PersonalTopPopularV2."""

from __future__ import annotations

import numpy as np

from recsys_cli.models.base import Recommender, item_popularity
from recsys_cli.models.topk import inverse_permutation, ranked_unseen


class Popular(Recommender):
    """Items ranked by the number of users who interacted with them in train."""

    def fit(self, train):
        self.n_items = train.shape[1]
        self.set_state({"popularity": item_popularity(train)})
        return self

    def score(self, users, history):
        return np.broadcast_to(self.popularity, (len(users), self.n_items)).copy()

    def recommend(self, users, history, k, filter_seen=True, fold_in=False):
        """One ranking for everyone: each user's list is it with their seen items skipped."""
        return ranked_unseen(self.ranking, self.ranked_scores, history[np.asarray(users)], k, filter_seen,
                             rank_of=self.rank_of)

    def state(self):
        return {"popularity": self.popularity}

    def set_state(self, arrays):
        """The popularity, and its ranking (ties by item index) sorted once, not per call."""
        self.popularity = arrays["popularity"]
        self.ranking = np.argsort(-self.popularity, kind="stable")
        self.rank_of = inverse_permutation(self.ranking)
        self.ranked_scores = self.popularity[self.ranking]


class PersonalPopular(Popular):
    """A user's own most repeated items first (by summed weight), padded with the global top.

    It recommends seen items by design, so give its model entry `filter_seen: false`
    (with seen items filtered it is the global top).
    """

    recommend = Recommender.recommend  # personal: scores differ per user

    def score(self, users, history):
        scores = super().score(users, history)
        top = self.popularity.max() + 1.0
        rows = np.repeat(np.arange(len(users)), np.diff(history.indptr))
        scores[rows, history.indices] += top * (1.0 + history.data.astype(np.float32))
        return scores
