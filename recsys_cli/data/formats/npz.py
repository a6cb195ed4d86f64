"""A ready users x items CSR matrix saved with scipy.sparse.save_npz (seed 000's data_train.npz).

Original ids are the matrix's row and column indices; the stored values are the weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.data.csr_file import read_sparse
from recsys_cli.data.tables import SourceTables
from recsys_cli.core.errors import InputError


def read(path: Path) -> SourceTables:
    path = Path(path)
    # Negative values are left to the dataset builder, which names the event row.
    matrix = read_sparse(path, allow_duplicates=True, non_negative=False).tocoo()
    if matrix.nnz == 0:
        raise InputError("the matrix has no stored values", path=path)
    events = pl.LazyFrame(
        {
            "user_id": matrix.row.astype(np.int64),
            "item_id": matrix.col.astype(np.int64),
            "weight": matrix.data.astype(np.float32),
            "timestamp": pl.Series(values=[None] * matrix.nnz, dtype=pl.Int64),
        }
    )
    return SourceTables(events=events, files=[path], stats={"source_shape": list(matrix.shape)})
