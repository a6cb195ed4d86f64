"""Content-based recommender (seed 004): item metadata (genres, artists, albums, category,
author/source, brand...) as a sparse item x feature matrix with L2-normalised rows; a user's
profile is the mean of their items' rows, scored by cosine against every item. It also yields
content-based similar items.

Feature columns: every metadata column but the ids and `name`, and but columns with a
distinct value for most items (free text, identifiers); list columns give one feature per
element. `columns` picks them explicitly.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.core.errors import InputError
from recsys_cli.models.base import (
    Recommender,
    csr_from_state,
    csr_state,
    similar_from_rows,
)
from recsys_cli.models.params import StrictParams, params_class
from recsys_cli.models.topk import in_batches, rows_per_batch

NOT_FEATURES = {"item_idx", "item_id", "name", "title"}


@params_class
def ContentParams():
    from pydantic import Field

    class ContentParams(StrictParams.build()):
        columns: list[str] | None = None
        max_distinct_share: float = Field(0.5, gt=0, le=1, description="skip columns more distinct than this")

    return ContentParams


def item_features(items: pl.DataFrame, columns: list[str] | None, max_distinct_share: float):
    """items.parquet -> (CSR item x feature, L2-normalised rows; feature names)."""
    items = items.sort("item_idx")
    if columns is None:
        columns = []
        for column in items.columns:
            if column in NOT_FEATURES:
                continue
            values = items[column].explode() if items.schema[column] == pl.List(pl.String) else items[column]
            if values.n_unique() <= max_distinct_share * items.height or items.schema[column].is_nested():
                columns.append(column)
    missing = [c for c in columns if c not in items.columns]
    if missing:
        raise InputError(f"content model: no item metadata column(s) {missing}; the dataset has {items.columns}")
    tokens = []
    for column in columns:
        frame = items.select("item_idx", pl.col(column).alias("value"))
        if frame.schema["value"].is_nested():
            frame = frame.explode("value")
        tokens.append(frame.drop_nulls().select("item_idx", pl.format("{}={}", pl.lit(column), pl.col("value").cast(pl.String)).alias("token")))
    if not tokens:
        raise InputError("content model: the dataset has no usable item metadata (genres, category, source...)")
    table = pl.concat(tokens).unique()
    vocabulary = table.select(pl.col("token").unique().sort()).with_row_index("feature")
    table = table.join(vocabulary, on="token")
    matrix = sp.csr_matrix((np.ones(table.height, dtype=np.float32), (table["item_idx"].to_numpy(), table["feature"].to_numpy())),
                           shape=(items.height, vocabulary.height))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    matrix = sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ matrix
    return matrix.tocsr(), vocabulary["token"].to_list()


class Content(Recommender):
    Params = ContentParams
    has_similar_items = True
    uses_item_metadata = True
    input_kind = "binary"  # a profile is the mean of the user's items, whatever their weights
    # which metadata columns count: only coarse ones (genres, categories) ... nearly all
    tune_space = {"max_distinct_share": {"choices": [0.05, 0.2, 0.5, 1.0]}}

    def set_item_metadata(self, items: pl.DataFrame) -> None:
        self.features, self.feature_names = item_features(items, self.params.columns, self.params.max_distinct_share)

    def fit(self, train):
        self.n_items = train.shape[1]
        if not hasattr(self, "features"):
            raise InputError("the content model needs item metadata; it is given by `recsys run`")
        return self

    def score(self, users, history):
        counts = np.maximum(np.diff(history.indptr), 1)
        profile = sp.diags(1.0 / counts).astype(np.float32) @ history @ self.features
        norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1)).ravel())
        profile = sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ profile
        return (profile @ self.features.T).toarray()

    def similar_items(self, items, k):
        return in_batches(lambda batch: similar_from_rows((self.features[batch] @ self.features.T).toarray(), batch, k),
                          items, rows_per_batch(self.n_items))

    def state(self):
        return csr_state(self.features, "features")

    def set_state(self, arrays):
        self.features = csr_from_state(arrays, "features")
