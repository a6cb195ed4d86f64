"""Two-stage recommender (seed 004): candidate generators, then a LightGBM ranker.

Training: a seeded random `holdout` share of each user's train interactions becomes the
ranker's target; the generators are fitted on the rest and propose their top candidates for
those users; features are each generator's score and rank (rank n + 1 when it did not
propose the item), the item's popularity and the user's activity (a content generator's
score is the content similarity). Labels mark the candidates found in the held-out part; the
ranker is a binary classifier of them by default (`objective`: it ranked better than
lambdarank on both sets measured, benchmarks/README.md "A reranker over EASE"). Serving: the
generators are refitted on the whole train split, propose candidates, and the ranker orders
them. Feature importances (gain) are kept for the report.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys_cli.core.errors import InputError
from recsys_cli.core.seeds import DEFAULT_SEED
from recsys_cli.models.base import Recommender, item_popularity
from recsys_cli.models.params import StrictParams, params_class


@params_class
def GeneratorSpec():
    from pydantic import Field

    class GeneratorSpec(StrictParams.build()):
        type: str
        params: dict = Field(default_factory=dict)
        candidates: int = Field(100, ge=1, le=5000)

    return GeneratorSpec


@params_class
def RerankParams():
    from typing import Literal

    from pydantic import Field

    Generator = GeneratorSpec.build()

    class RerankParams(StrictParams.build()):
        # Defaults (issue 27, benchmarks/README.md "A reranker over EASE" and "The ranker's
        # objective"): over 5 user folds EASE + iALS-Rendle + popularity under a small,
        # strongly regularised ranker beat seed 004's iALS + item-kNN + popularity stack with
        # 300 trees on ml-latest-small (every rating a like) and equalled it on the synthetic
        # ML-1M shape (+10% over EASE there); the binary objective then gained on every set.
        # A leaf's fewest candidates is a count, so it holds a ranker learning from a few
        # hundred users back and leaves one learning from thousands free.
        generators: list[Generator] = Field(default_factory=lambda: [
            Generator(type="ease", candidates=100), Generator(type="ials-rendle", candidates=50),
            Generator(type="popular", candidates=20)], min_length=1)
        holdout: float = Field(0.2, gt=0, lt=1, description="share of each user's train interactions used as targets")
        max_train_users: int = Field(20_000, ge=10, description="users sampled to train the ranker")
        n_estimators: int = Field(100, ge=1)
        learning_rate: float = Field(0.05, gt=0)
        num_leaves: int = Field(15, ge=2)
        min_child_samples: int = Field(300, ge=1, description="fewest candidates in a leaf")
        objective: Literal["binary", "lambdarank"] = Field(
            "binary", description="the ranker's loss: a classifier of held-out likes, or LightGBM's lambdarank")

    return RerankParams


class Rerank(Recommender):
    Params = RerankParams
    deterministic = False  # LightGBM and some generators are multithreaded
    tune_space = {
        "n_estimators": {"low": 50, "high": 600, "log": True, "type": "int"},
        "learning_rate": {"low": 0.01, "high": 0.2, "log": True},
        "num_leaves": {"low": 7, "high": 127, "log": True, "type": "int"},
        # the knob that split the benchmark sets by size (benchmarks/README.md, "The ranker's objective")
        "min_child_samples": {"low": 30, "high": 1000, "log": True, "type": "int"},
    }

    def __init__(self, params=None, *, seed: int = DEFAULT_SEED, threads: int = 0, binary_input: bool | None = None):
        super().__init__(params, seed=seed, threads=threads, binary_input=binary_input)
        from recsys_cli.models.registry import model_class

        # The generators decide: a content generator makes the reranker need item metadata.
        self.uses_item_metadata = any(model_class(g.type).uses_item_metadata for g in self.params.generators)
        self.items = None
        self.feature_importances: dict[str, float] = {}

    def set_item_metadata(self, items) -> None:
        self.items = items

    def _generator(self, spec: GeneratorSpec, items=None):
        from recsys_cli.models.registry import build_model

        return build_model(spec.type, spec.params, seed=self.seed, threads=self.threads, items=items)

    def _generators(self, train):
        fitted = []
        for index, spec in enumerate(self.params.generators):
            try:
                fitted.append(self._generator(spec, self.items).fit(train))
            except InputError as error:  # e.g. EASE, a default generator, on a catalogue too large for it
                raise InputError(f"rerank's generator {index} ({spec.type}): {error}. The generators are rerank's "
                                 "`generators:` (default: ease, ials-rendle, popular); list others, e.g. "
                                 "sparse-ease or ials, to leave it out") from None
        return fitted

    def feature_names(self) -> list[str]:
        names = [f"{spec.type}_{i}" for i, spec in enumerate(self.params.generators)]
        return [f"{n}_{kind}" for n in names for kind in ("score", "rank")] + ["item_popularity", "user_activity"]

    def _candidates(self, generators, users, history, filter_seen=True) -> pl.DataFrame:
        """(user, item, features...) for the union of every generator's top candidates."""
        frame = None
        for index, (spec, model) in enumerate(zip(self.params.generators, generators)):
            ids, scores = model.recommend(users, history, spec.candidates, filter_seen=filter_seen)
            keep = np.isfinite(scores.ravel()) & (ids.ravel() >= 0)
            name = f"{spec.type}_{index}"
            part = pl.DataFrame({
                "user": np.repeat(users, ids.shape[1])[keep], "item": ids.ravel()[keep],
                f"{name}_score": scores.ravel()[keep],
                f"{name}_rank": np.tile(np.arange(1, ids.shape[1] + 1, dtype=np.float32), len(users))[keep],
            })
            frame = part if frame is None else frame.join(part, on=["user", "item"], how="full", coalesce=True)
        fills = [pl.col(f"{s.type}_{i}_rank").fill_null(float(s.candidates + 1)) for i, s in enumerate(self.params.generators)]
        activity = np.diff(history[users].indptr).astype(np.float32)
        frame = frame.with_columns(*fills).join(
            pl.DataFrame({"user": users, "user_activity": activity}), on="user", how="left")
        return frame.with_columns(pl.Series("item_popularity", self.popularity[frame["item"].to_numpy()])).sort("user", "item")

    def training_frame(self, train) -> pl.DataFrame:
        """The ranker's training data: the generators, fitted on all but a `holdout` share of
        each user's likes, propose candidates (features as served) labelled 1 where the
        held-out part has them; users whose candidates miss all of it are left out."""
        rng = np.random.default_rng(self.seed)
        history, target = _holdout(train, self.params.holdout, rng)
        users = np.flatnonzero(np.diff(target.indptr))
        if len(users) > self.params.max_train_users:
            users = np.sort(rng.choice(users, self.params.max_train_users, replace=False))
        self.popularity = item_popularity(history)
        self.report_progress(0, 1, "candidate generators")
        candidates = self._candidates(self._generators(history), users.astype(np.int32), history)
        positives = pl.DataFrame({"user": np.repeat(np.arange(target.shape[0]), np.diff(target.indptr)).astype(np.int32),
                                  "item": target.indices.astype(np.int32), "label": np.ones(target.nnz, np.int8)})
        data = candidates.join(positives, on=["user", "item"], how="left").with_columns(pl.col("label").fill_null(0))
        useful = data.group_by("user").agg(pl.col("label").max().alias("any")).filter(pl.col("any") > 0)["user"]
        return data.filter(pl.col("user").is_in(useful.implode())).sort("user", "item")

    def fit(self, train):
        import lightgbm as lgb

        self.n_items = train.shape[1]
        data = self.training_frame(train)
        names = self.feature_names()
        settings = dict(n_estimators=self.params.n_estimators, learning_rate=self.params.learning_rate,
                        num_leaves=self.params.num_leaves, min_child_samples=self.params.min_child_samples,
                        random_state=self.seed, n_jobs=self.threads or -1, verbose=-1)
        trees = self.params.n_estimators
        fit = dict(feature_name=names, callbacks=[lambda env: self.report_progress(env.iteration + 1, trees, "trees")])
        if self.params.objective == "lambdarank":
            ranker = lgb.LGBMRanker(objective="lambdarank", **settings)
            fit["group"] = data.group_by("user", maintain_order=True).len()["len"].to_numpy()
        else:
            ranker = lgb.LGBMClassifier(objective="binary", **settings)
        ranker.fit(data.select(names).to_numpy(), data["label"].to_numpy(), **fit)
        self.booster = ranker.booster_
        gains = self.booster.feature_importance("gain")
        self.feature_importances = {n: float(g) for n, g in zip(names, gains / max(gains.sum(), 1e-12))}
        self.fit_serving(train)
        return self

    def fit_serving(self, train) -> None:
        """Refit the generators on the whole train split: what serving proposes from."""
        self.n_items = train.shape[1]
        self.popularity = item_popularity(train)
        self.report_progress(0, 1, "serving generators on the whole train")
        self.serving = self._generators(train)

    def candidate_frame(self, users, history, filter_seen=True) -> pl.DataFrame:
        """The serving generators' candidates for `users` with the ranker's features."""
        return self._candidates(self.serving, np.asarray(users, dtype=np.int32), self.input_matrix(history), filter_seen)

    def recommend(self, users, history, k, filter_seen=True, fold_in=False):
        users = np.asarray(users, dtype=np.int32)
        k = min(k, self.n_items)
        frame = self.candidate_frame(users, history, filter_seen=filter_seen)
        scores = self.booster.predict(frame.select(self.feature_names()).to_numpy(), raw_score=True)
        ranked = frame.select("user", "item").with_columns(pl.Series("score", scores.astype(np.float32))).sort(
            ["user", "score", "item"], descending=[False, True, False])
        ranked = ranked.with_columns(pl.int_range(pl.len()).over("user").alias("rank")).filter(pl.col("rank") < k)
        position = np.searchsorted(users, ranked["user"].to_numpy()) if np.all(np.diff(users) >= 0) else \
            pl.DataFrame({"user": users, "row": np.arange(len(users))}).join(ranked.select("user"), on="user", how="right")["row"].to_numpy()
        ids = np.full((len(users), k), -1, dtype=np.int32)
        out = np.full((len(users), k), -np.inf, dtype=np.float32)
        ids[position, ranked["rank"].to_numpy()] = ranked["item"].to_numpy()
        out[position, ranked["rank"].to_numpy()] = ranked["score"].to_numpy()
        return ids, out

    def report_details(self) -> dict:
        return {"feature_importances": self.feature_importances}

    def state(self):
        arrays = {"popularity": self.popularity, "booster": np.array(self.booster.model_to_string()),
                  "importance_names": np.array(list(self.feature_importances)),
                  "importance_values": np.array(list(self.feature_importances.values()))}
        for index, model in enumerate(self.serving):
            arrays.update({f"g{index}_{k}": v for k, v in model.state().items()})
            arrays[f"g{index}_n_items"] = np.array([model.n_items])
        return arrays

    def set_state(self, arrays):
        import lightgbm as lgb

        self.popularity = arrays["popularity"]
        self.booster = lgb.Booster(model_str=str(arrays["booster"]))
        self.feature_importances = dict(zip(arrays["importance_names"].tolist(), arrays["importance_values"].tolist()))
        self.serving = []
        for index, spec in enumerate(self.params.generators):
            model = self._generator(spec)
            prefix = f"g{index}_"
            model.set_state({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix) and k != f"{prefix}n_items"})
            model.n_items = int(arrays[f"{prefix}n_items"][0])
            self.serving.append(model)


def _holdout(train, share: float, rng):
    """Split each user's interactions: a `share` (at least one, never all) becomes targets."""
    import scipy.sparse as sp

    counts = np.diff(train.indptr)
    rows = np.repeat(np.arange(train.shape[0]), counts)
    order = np.lexsort((rng.random(train.nnz), rows))
    rank = np.empty(train.nnz, dtype=np.int64)
    rank[order] = np.arange(train.nnz) - train.indptr[rows[order]]
    wanted = np.where(counts >= 2, np.clip(np.round(share * counts), 1, counts - 1), 0)
    held = rank < wanted[rows]

    def part(mask):
        return sp.csr_matrix((train.data[mask], (rows[mask], train.indices[mask])), shape=train.shape)

    return part(~held), part(held)
