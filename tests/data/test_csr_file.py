"""The CSR check of data/csr_file.py: repeated pairs found within rows (never across two
rows), unsorted rows accepted and sorted, and no int64 copy of the index arrays on the way."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.core.errors import InputError
from recsys_cli.data.csr_file import read_sparse


def save(path, fmt, shape, data, **arrays):
    np.savez(path, format=np.array(fmt.encode()), shape=np.array(shape), data=np.asarray(data, np.float32),
             **{name: np.asarray(values, np.int32) for name, values in arrays.items()})
    return path


def test_a_column_ending_one_row_and_starting_the_next_is_no_repeat(tmp_path):
    # row 0: columns 1, 3; row 1: columns 3, 4 -> 3 twice in a row of the index array, in two rows
    path = save(tmp_path / "m.npz", "csr", (2, 5), [1, 2, 3, 4], indices=[1, 3, 3, 4], indptr=[0, 2, 4])
    matrix = read_sparse(path)
    assert matrix.toarray().tolist() == [[0, 1, 0, 2, 0], [0, 0, 0, 3, 4]]


def test_unsorted_rows_are_read_and_come_back_sorted(tmp_path):
    path = save(tmp_path / "m.npz", "csr", (2, 4), [1, 2, 3, 4], indices=[3, 0, 2, 1], indptr=[0, 2, 4])
    matrix = read_sparse(path)
    assert matrix.has_canonical_format
    assert matrix.indices.tolist() == [0, 3, 1, 2] and matrix.data.tolist() == [2, 1, 4, 3]


@pytest.mark.parametrize("indices", [[0, 2, 2], [2, 0, 2]], ids=["sorted row", "unsorted row"])
def test_a_pair_stored_twice_in_one_row_is_refused_by_name(tmp_path, indices):
    path = save(tmp_path / "m.npz", "csr", (2, 3), [1, 1, 1, 1], indices=[1, *indices], indptr=[0, 1, 4])
    with pytest.raises(InputError, match=r"entry \(1, 2\) is stored more than once"):
        read_sparse(path)


def test_a_csc_repeat_names_row_then_column(tmp_path):
    # column 2 holds row 1 twice
    path = save(tmp_path / "m.npz", "csc", (3, 3), [1, 1, 1], indices=[0, 1, 1], indptr=[0, 0, 1, 3])
    with pytest.raises(InputError, match=r"entry \(1, 2\) is stored more than once"):
        read_sparse(path)


def test_coo_repeats_are_refused_or_summed_as_asked(tmp_path):
    path = save(tmp_path / "m.npz", "coo", (2, 2), [1, 2, 5], row=[0, 1, 0], col=[1, 0, 1])
    with pytest.raises(InputError, match=r"entry \(0, 1\) is stored more than once"):
        read_sparse(path)
    assert read_sparse(path, allow_duplicates=True).toarray().tolist() == [[0, 6], [2, 0]]


def test_a_coo_explicit_zero_is_no_repeat(tmp_path):
    path = save(tmp_path / "m.npz", "coo", (2, 2), [0, 2], row=[0, 1], col=[1, 0])
    assert read_sparse(path).nnz == 2


def test_reading_allocates_no_int64_copy_of_the_indices(tmp_path):
    rng = np.random.default_rng(0)
    matrix = sp.random(2000, 3000, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    sp.save_npz(tmp_path / "m.npz", matrix, compressed=False)
    stored = matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes
    tracemalloc.start()
    try:
        read_sparse(tmp_path / "m.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The arrays themselves plus a boolean mask of the entries; one int64 copy of the indices
    # alone would add 8 bytes an entry, twice the int32 indices.
    assert peak < stored + 2 * matrix.nnz + 2**16
