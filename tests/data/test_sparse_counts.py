"""Per-column counts a chunk of indices at a time equal one bincount over all of them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.data import sparse_counts


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20])
def test_chunked_counts_equal_a_whole_bincount(monkeypatch, chunk):
    monkeypatch.setattr(sparse_counts, "CHUNK", chunk)
    matrix = sp.csr_matrix(np.array([[1, 0, 2, 0], [0, 0, 3, 1], [4, 0, 0, 0]], dtype=np.float32))
    assert sparse_counts.column_counts(matrix).tolist() == [2, 0, 2, 1]
    assert sparse_counts.column_counts(matrix, weighted=True).tolist() == [5.0, 0.0, 5.0, 1.0]


def test_an_empty_matrix_counts_zero_everywhere():
    counts = sparse_counts.column_counts(sp.csr_matrix((3, 5), dtype=np.float32))
    assert counts.tolist() == [0] * 5 and counts.dtype == np.int64
