"""A blend of two or more models: a weighted sum of their per-user normalised scores, the
weights fitted on validation carved from the train matrix that fit() is given (and nothing else).

fit(train):
1. a seeded `validation_share` of the users with 2+ interactions each lose one random
   interaction (the seed protocol's leave-one-random, on train only) to a validation part;
2. every component is fitted on the rest;
3. the weights are the point of the simplex grid (multiples of `grid_step`, summing to 1;
   the corners are the components alone) with the best MRR@100 of the validation
   interactions, ranked over the catalogue with the rest's items filtered, as evaluation does
   (ties of MRR: the first point in grid order);
4. the components with a non-zero weight are refitted on the whole train matrix.

Normalisation, per user, over the items the user does not have (the candidates; seen items
are filtered anyway and their scores, e.g. a factor model's near-1 for known likes, would
swamp the statistics): `zscore` (the default) subtracts the mean and divides by the standard
deviation, so each component contributes in units of its own spread and one outlying score
moves the scale little; `minmax` maps the range to [0, 1], which one extreme score decides.
A component that does not expose dense scores (it overrides `recommend`: the implicit-backed
factor models, iALS-Rendle, popularity, the reranker) is scored through its own recommend
over the whole catalogue, seen items kept; items it leaves unscored (-inf, a reranker's
non-candidates) get its row's lowest finite score.
"""

from __future__ import annotations

import itertools
from math import comb
from typing import Literal

import numpy as np

from recsys_cli.core.errors import InputError
from recsys_cli.core.seeds import DEFAULT_SEED
from recsys_cli.models.base import Recommender
from recsys_cli.models.params import StrictParams, params_class
from recsys_cli.models.topk import mask_seen, rows_per_batch

VALIDATION_K = 100  # the weights maximise MRR@100
MAX_GRID_POINTS = 5000
CARVE_KEY = 0xB1E4D  # the carve's seed is [seed, CARVE_KEY]: never the plain seed of any other part


@params_class
def ComponentSpec():
    from pydantic import Field, model_validator

    class ComponentSpec(StrictParams.build()):
        type: str
        params: dict = Field(default_factory=dict)

        @model_validator(mode="after")
        def _known_model(self):
            from recsys_cli.models.registry import MODELS, model_class

            if self.type not in MODELS:
                raise ValueError(f"unknown component type {self.type!r}; expected one of {', '.join(MODELS)}")
            model_class(self.type).Params.model_validate(self.params)
            return self

    return ComponentSpec


@params_class
def BlendParams():
    from pydantic import Field, field_validator, model_validator

    Component = ComponentSpec.build()

    class BlendParams(StrictParams.build()):
        # Default components: over 5 user folds EASE-like + iALS blended better than EDLAE +
        # RP3beta on both ml-latest-small (>= 4) and the synthetic ML-1M shape (benchmarks/README.md).
        components: list[Component] = Field(
            default_factory=lambda: [Component(type="edlae"), Component(type="ials-rendle")], min_length=2)
        normalise: Literal["zscore", "minmax"] = Field("zscore", description="per-user score normalisation")
        validation_share: float = Field(0.2, gt=0, le=1, description="share of users who lose one like to validation")
        grid_step: float = Field(0.1, gt=0, le=0.5, description="spacing of the weight grid on the simplex")

        @field_validator("grid_step")
        @classmethod
        def _divides_one(cls, step):
            if abs(round(1 / step) * step - 1) > 1e-9:
                raise ValueError("grid_step must divide 1 (0.5, 0.25, 0.2, 0.1, 0.05 ...)")
            return step

        @model_validator(mode="after")
        def _grid_size(self):
            points = comb(round(1 / self.grid_step) + len(self.components) - 1, len(self.components) - 1)
            if points > MAX_GRID_POINTS:
                raise ValueError(f"{points:,} weight points for {len(self.components)} components at grid_step "
                                 f"{self.grid_step}; at most {MAX_GRID_POINTS:,}: take a coarser grid_step")
            return self

    return BlendParams


def simplex_grid(n_components: int, step: float) -> np.ndarray:
    """(points, n_components) float32: every weight vector of multiples of `step` summing to 1."""
    parts = round(1 / step)
    rows = [c for c in itertools.product(range(parts + 1), repeat=n_components - 1) if sum(c) <= parts]
    return np.array([(*c, parts - sum(c)) for c in rows], dtype=np.float32) / parts


def normalise(scores: np.ndarray, history, how: str) -> np.ndarray:
    """Per-row z-score or min-max over the row's unseen items, in place."""
    unseen = np.ones(scores.shape, dtype=bool)
    mask_seen_rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
    unseen[mask_seen_rows, history.indices] = False
    count = np.maximum(unseen.sum(axis=1, keepdims=True), 1)
    if how == "zscore":
        mean = np.where(unseen, scores, 0).sum(axis=1, keepdims=True) / count
        spread = np.sqrt(np.where(unseen, (scores - mean) ** 2, 0).sum(axis=1, keepdims=True) / count)
        low = mean
    else:
        low = np.where(unseen, scores, np.inf).min(axis=1, keepdims=True)
        spread = np.where(unseen, scores, -np.inf).max(axis=1, keepdims=True) - low
        low[~np.isfinite(low)] = 0
    spread[~(spread > 0)] = 1
    scores -= low
    scores /= spread
    return scores


def component_scores(model, users, rows, fold_in: bool = False) -> np.ndarray:
    """Dense float32 (len(users), n_items) scores of one fitted model; `rows` are the users'
    history rows (a CSR batch, in the order of `users`)."""
    if type(model).recommend is Recommender.recommend:
        return np.asarray(model.score(users, model.input_matrix(rows)), dtype=np.float32)
    ids, values = model.recommend(users, at_user_rows(rows, users), model.n_items, filter_seen=False, fold_in=fold_in)
    scores = np.full((len(users), model.n_items), -np.inf, dtype=np.float32)
    listed = ids >= 0
    scores[np.nonzero(listed)[0], ids[listed]] = values[listed]
    finite = np.isfinite(scores)
    floor = np.where(finite, scores, np.inf).min(axis=1, keepdims=True)
    return np.where(finite, scores, np.where(np.isfinite(floor), floor, 0)).astype(np.float32)


def at_user_rows(rows, users):
    """A CSR whose row users[i] is rows[i] (other rows empty): what a model's own recommend
    indexes by user id."""
    import scipy.sparse as sp

    users = np.asarray(users, dtype=np.int64)
    order = np.argsort(users, kind="stable")
    rows = rows[order]
    counts = np.zeros(int(users.max()) + 1 if len(users) else 0, dtype=np.int64)
    counts[users[order]] = np.diff(rows.indptr)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    return sp.csr_matrix((rows.data, rows.indices, indptr), shape=(len(counts), rows.shape[1]))


class Blend(Recommender):
    Params = BlendParams
    input_kind = "weights"  # passed on: each component prepares its own input
    tune_space = {
        "normalise": {"choices": ["zscore", "minmax"]},
        "validation_share": {"low": 0.1, "high": 0.5},
    }

    def __init__(self, params=None, *, seed: int = DEFAULT_SEED, threads: int = 0, binary_input: bool | None = None):
        super().__init__(params, seed=seed, threads=threads, binary_input=binary_input)
        from recsys_cli.models.registry import model_class

        classes = [model_class(c.type) for c in self.params.components]
        self.uses_item_metadata = any(cls.uses_item_metadata for cls in classes)
        self.deterministic = all(cls.deterministic for cls in classes)
        self.items = None
        self.weights = np.zeros(len(classes), dtype=np.float32)
        self.serving: dict[int, Recommender] = {}
        self.validation: dict = {}

    def set_item_metadata(self, items) -> None:
        self.items = items

    def _component(self, index: int) -> Recommender:
        from recsys_cli.models.registry import build_model

        spec = self.params.components[index]
        return build_model(spec.type, spec.params, seed=self.seed, threads=self.threads, items=self.items)

    def fit(self, train):
        from recsys_cli.data.splits import TEST, TRAIN, Cells, leave_one_random

        self.n_items = train.shape[1]
        cells = Cells.from_matrix(train)
        rng = np.random.default_rng([self.seed, CARVE_KEY])
        labels = leave_one_random(cells, rng, test_users=self.params.validation_share)
        rest, held = cells.to_csr(labels == TRAIN), cells.to_csr(labels == TEST)
        users = np.flatnonzero(np.diff(held.indptr)).astype(np.int32)
        if len(users) == 0:
            raise InputError("blend: no user has two or more interactions, so no validation part can be carved "
                             "from train to fit the weights")
        count = len(self.params.components)
        self.report_progress(0, 2 * count + 1, "components on the train part less validation")
        fitted = []
        for index in range(count):
            fitted.append(self._component(index).fit(rest))
            self.report_progress(index + 1, 2 * count + 1, "components on the train part less validation")
        grid = simplex_grid(count, self.params.grid_step)
        reciprocal = self._validation_reciprocal_ranks(fitted, grid, users, rest, held.indices[held.indptr[users]])
        best = int(np.argmax(reciprocal))
        self.weights = grid[best]
        names = [f"{spec.type}_{i}" for i, spec in enumerate(self.params.components)]
        alone = [int(np.flatnonzero(np.all(grid == np.eye(count, dtype=np.float32)[c], axis=1))[0]) for c in range(count)]
        self.validation = {"users": len(users), "mrr@100": float(reciprocal[best] / len(users)),
                           "components_mrr@100": {n: float(reciprocal[a] / len(users)) for n, a in zip(names, alone)}}
        del fitted
        self.serving = {}
        for index in np.flatnonzero(self.weights > 0):
            self.serving[int(index)] = self._component(int(index)).fit(train)
            self.report_progress(count + 1 + len(self.serving), 2 * count + 1, "components on the whole train")
        return self

    def _validation_reciprocal_ranks(self, fitted, grid, users, history, targets) -> np.ndarray:
        """Sum over validation users of each grid point's reciprocal rank (MRR@100's numerator)."""
        total = np.zeros(len(grid))
        step = max(1, rows_per_batch(self.n_items) // (len(fitted) + 1))
        positions = np.arange(self.n_items)
        for start in range(0, len(users), step):
            batch, target = users[start:start + step], targets[start:start + step]
            rows = history[batch]
            stacked = np.stack([normalise(component_scores(m, batch, rows), rows, self.params.normalise)
                                for m in fitted])
            for point, weights in enumerate(grid):
                mixed = np.tensordot(weights, stacked, axes=1)
                mask_seen(mixed, rows)
                at = mixed[np.arange(len(batch)), target][:, None]
                rank = (mixed > at).sum(axis=1) + ((mixed == at) & (positions < target[:, None])).sum(axis=1)
                total[point] += np.where(rank < VALIDATION_K, 1.0 / (rank + 1), 0.0).sum()
        return total

    def recommend(self, users, history, k, filter_seen=True, fold_in=False):
        self._fold_in = fold_in
        return super().recommend(users, history, k, filter_seen=filter_seen, fold_in=fold_in)

    def score(self, users, history):
        mixed = np.zeros((len(users), self.n_items), dtype=np.float32)
        for index, model in self.serving.items():
            scores = component_scores(model, users, history, getattr(self, "_fold_in", False))
            mixed += self.weights[index] * normalise(scores, history, self.params.normalise)
        return mixed

    def report_details(self) -> dict:
        names = [f"{spec.type}_{i}" for i, spec in enumerate(self.params.components)]
        return {"blend_weights": dict(zip(names, self.weights.tolist())), "validation": self.validation}

    def state(self):
        arrays = {"weights": self.weights}
        for index, model in self.serving.items():
            arrays.update({f"c{index}_{k}": v for k, v in model.state().items()})
            arrays[f"c{index}_n_items"] = np.array([model.n_items])
        return arrays

    def set_state(self, arrays):
        self.weights = arrays["weights"]
        self.serving = {}
        for index in np.flatnonzero(self.weights > 0):
            model, prefix = self._component(int(index)), f"c{index}_"
            model.set_state({k[len(prefix):]: v for k, v in arrays.items()
                             if k.startswith(prefix) and k != f"{prefix}n_items"})
            model.n_items = int(arrays[f"{prefix}n_items"][0])
            self.serving[int(index)] = model
