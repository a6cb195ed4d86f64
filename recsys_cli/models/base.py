"""The model protocol (docs/models.md, docs/architecture.md), after the `implicit` library's API.

    fit(train) -> self
    recommend(users, history, k, filter_seen=True) -> (item_ids[n, k], scores[n, k])
    similar_items(items, k) -> (item_ids[n, k], scores[n, k])       # the item itself excluded
    save(dir) / load(dir)                                            # npz + params.json, no pickle

Hyperparameters are a pydantic model (`Params`) declared once per class: defaults, ranges and
types are what the config validator and the tuner read. It is built on first use
(models/params.py), so loading a saved model for a query imports no pydantic. `history` is
the users x items CSR the users' seen items come from (train, or the fold-in part of a
user-holdout split).

Capabilities are class attributes with defaults, so callers read them instead of probing:
`has_similar_items`, `uses_item_metadata` (needs `set_item_metadata(items)` before fit),
`predicts_ratings` (has `predict(users, items)`), `report_details()` ({} unless the model has
something for the report) and `input_kind`, the values the model wants to learn from:
- "binary": interactions only (every stored value becomes 1);
- "weights": the dataset's weights (counts, durations...), binarised on a rated dataset
  unless the model entry says `use_weights: true`;
- "ratings": the values as they are (explicit-rating models).
`input_matrix` is the one place a matrix is prepared from that: every subclass's `fit` and
the provided `recommend` see its output (float32 CSR), whatever sparse format came in.
"""

from __future__ import annotations

import functools
import json
import zipfile
import zlib
from pathlib import Path
from typing import Callable, ClassVar, Literal, Optional

import numpy as np

from recsys_cli.core.atomic import write_json
from recsys_cli.core.errors import InputError
from recsys_cli.core.seeds import DEFAULT_SEED
from recsys_cli.data.sparse_counts import column_counts
from recsys_cli.models.params import SavedParams, StrictParams
from recsys_cli.models.topk import in_batches, mask_seen, rows_per_batch, topk

InputKind = Literal["binary", "weights", "ratings"]


class Recommender:
    Params: ClassVar[type] = StrictParams  # a pydantic model class (built on first read)
    has_similar_items: ClassVar[bool] = False
    deterministic: ClassVar[bool] = True  # bitwise reproducible when multithreaded
    # Default tune space: parameter -> {low, high, log, type} or {choices}.
    tune_space: ClassVar[dict[str, dict]] = {}
    iterative: ClassVar[bool] = False  # fit(train, callback) calls back every iteration
    predicts_ratings: ClassVar[bool] = False  # has predict(users, items) -> ratings (RMSE/MAE)
    uses_item_metadata: ClassVar[bool] = False  # needs set_item_metadata(items) before fit
    input_kind: ClassVar[InputKind] = "weights"
    # Set by whoever runs a long fit (the CLI draws a bar): (done, total, what is counted).
    on_progress: Optional[Callable[[int, int, str], None]] = None

    def __init__(self, params=None, *, seed: int = DEFAULT_SEED, threads: int = 0, binary_input: bool | None = None):
        """`params`: a dict (validated into `Params`), an instance of `Params`, or SavedParams."""
        if params is None or isinstance(params, dict):
            params = self.Params.model_validate(params or {})
        self.params = params
        self.seed = seed
        self.threads = threads
        # Whether input values become 1: always for "binary", never for "ratings"; for
        # "weights" build_model decides from the dataset (rated, use_weights).
        self.binary_input = self.input_kind == "binary" if binary_input is None else binary_input
        if self.input_kind == "ratings" and self.binary_input:
            raise ValueError(f"{type(self).__name__} learns from ratings; its input cannot be binarised")
        self.n_items: int | None = None

    def __init_subclass__(cls, **kwargs):
        """Every `fit` a subclass defines receives `input_matrix(train)`."""
        super().__init_subclass__(**kwargs)
        if "fit" in cls.__dict__:
            cls.fit = _fit_on_prepared_input(cls.__dict__["fit"])

    def input_matrix(self, matrix):
        """The users x items matrix as this model learns from and scores it: a float32 CSR,
        binarised when `binary_input`. The caller's matrix is never modified."""
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise InputError(f"{type(self).__name__} expects a scipy sparse users x items matrix, "
                             f"got {type(matrix).__name__}")
        matrix = sp.csr_matrix(matrix)
        if matrix.dtype.kind not in "biuf":
            raise InputError(f"{type(self).__name__} expects numeric interaction values, got dtype {matrix.dtype}")
        matrix = matrix.astype(np.float32, copy=self.binary_input)
        if self.binary_input:
            matrix.data = (matrix.data > 0).astype(np.float32)
            matrix.eliminate_zeros()
        return matrix

    def set_item_metadata(self, items) -> None:
        """Models with `uses_item_metadata` take items.parquet's table here."""
        raise NotImplementedError(f"{type(self).__name__} uses no item metadata")

    @classmethod
    def unused_params(cls, params: dict) -> set[str]:
        """Parameters these values make irrelevant (bm25's k1 under cosine similarity...): the
        report leaves them out. By default, the weighting options of a scheme not chosen."""
        from recsys_cli.models.weighting import unused_weighting_params

        return unused_weighting_params(params)

    def report_details(self) -> dict:
        """What the report shows about the fitted model beyond metrics (e.g. feature importances)."""
        return {}

    # --- to implement -------------------------------------------------------------------
    def fit(self, train) -> "Recommender":
        raise NotImplementedError

    def score(self, users: np.ndarray, history) -> np.ndarray:
        """Dense float32 scores (len(users), n_items) for a batch; history is their CSR rows."""
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save."""
        raise NotImplementedError

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # --- provided -----------------------------------------------------------------------
    def report_progress(self, done: int, total: int, what: str) -> None:
        """Progress within one fit (SLIM's items, the reranker's trees), for long single fits."""
        if self.on_progress is not None:
            self.on_progress(done, total, what)

    def recommend(self, users: np.ndarray, history, k: int, filter_seen: bool = True, fold_in: bool = False):
        """Top-k per user, batched over users so memory stays bounded."""
        users = np.asarray(users)
        ids = np.empty((len(users), min(k, self.n_items)), dtype=np.int32)
        scores = np.empty(ids.shape, dtype=np.float32)
        step = rows_per_batch(self.n_items)
        for start in range(0, len(users), step):
            batch = users[start:start + step]
            rows = self.input_matrix(history[batch])
            block = np.asarray(self.score(batch, rows), dtype=np.float32)
            if filter_seen:
                mask_seen(block, rows)
            ids[start:start + step], scores[start:start + step] = topk(block, k)
        return ids, scores

    def similar_items(self, items: np.ndarray, k: int):
        raise NotImplementedError(f"{type(self).__name__} has no item similarity")

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "state.npz", **self.state())
        write_json(folder / "params.json", {
            "class": type(self).__name__, "params": self.params.model_dump(),
            "seed": self.seed, "threads": self.threads, "binary_input": self.binary_input, "n_items": self.n_items,
        })

    @classmethod
    def load(cls, folder: Path, checked: bool = False) -> "Recommender":
        """The model saved in `folder` (runs/NAME/RUN/models/MODEL); a missing, truncated or
        damaged params.json or state.npz is a DamagedFile naming the run, model and file.
        `checked`: the caller compared the files with the checksums stored when they were
        written, so the parameters are read as saved instead of validated (SavedParams)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "params.json").read_text(encoding="utf-8"))
            if not isinstance(meta["params"], dict):
                raise TypeError(f"params is a {type(meta['params']).__name__}, not an object")
            params = SavedParams(meta["params"], lambda: cls.Params) if checked else meta["params"]
            model = cls(params, seed=meta["seed"], threads=meta.get("threads", 0),
                        binary_input=meta.get("binary_input"))
            model.n_items = int(meta["n_items"])
        except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
            raise _damaged_model(folder, "params.json", error) from error
        try:
            with np.load(folder / "state.npz", allow_pickle=False) as arrays:
                model.set_state({name: arrays[name] for name in arrays.files})
        except (FileNotFoundError, EOFError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile,
                zlib.error) as error:
            raise _damaged_model(folder, "state.npz", error) from error
        return model


def _damaged_model(folder: Path, file: str, error: BaseException):
    from recsys_cli.core.errors import DamagedFile, one_line

    run = folder.parent.parent
    return DamagedFile(folder / file, f"the saved model {folder.name!r} of run {run.parent.name}/{run.name}", one_line(error),
                       f"check the run with `recsys runs verify {run}`; re-running its experiment trains the "
                       "model again (a damaged stored copy is set aside)")


def _fit_on_prepared_input(fit):
    @functools.wraps(fit)
    def prepared_fit(self, train, *args, **kwargs):
        return fit(self, self.input_matrix(train), *args, **kwargs)

    return prepared_fit


def csr_state(matrix, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}_data": matrix.data, f"{prefix}_indices": matrix.indices,
            f"{prefix}_indptr": matrix.indptr, f"{prefix}_shape": np.array(matrix.shape)}


def csr_from_state(arrays: dict[str, np.ndarray], prefix: str):
    import scipy.sparse as sp

    return sp.csr_matrix((arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]),
                         shape=tuple(arrays[f"{prefix}_shape"]))


def similar_from_rows(rows: np.ndarray, items: np.ndarray, k: int):
    """Top-k of dense similarity rows with each anchor item itself excluded."""
    rows = np.array(rows, dtype=np.float32, copy=True)
    rows[np.arange(len(items)), items] = -np.inf
    return topk(rows, k)


def cosine_similar_items(item_factors: np.ndarray, items: np.ndarray, k: int):
    """Top-k items by cosine of their factor vectors, the anchor excluded, batched."""
    normed = item_factors / (np.linalg.norm(item_factors, axis=1, keepdims=True) + 1e-12)
    return in_batches(lambda batch: similar_from_rows(normed[batch] @ normed.T, batch, k), items,
                      rows_per_batch(len(item_factors)))


def item_popularity(train) -> np.ndarray:
    """Number of users with each item in train."""
    return column_counts(train).astype(np.float32)
