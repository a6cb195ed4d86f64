"""Reading a `scipy.sparse.save_npz` file with a full validity check: the one reader of .npz.

`scipy.sparse.load_npz` trusts the arrays it finds: an `indptr` of `[0, 5, 2]`, an index past
the last column or a repeated (row, column) pair come back as a matrix that silently
computes something else. Every .npz the tool reads (a dataset's matrix, a split's parts, an
npz source) goes through `read_sparse`, which checks the raw arrays before building one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from recsys_cli.core.errors import InputError

COMPRESSED_FORMATS = ("csr", "csc")


def read_sparse(path: str | Path, *, allow_duplicates: bool = False, non_negative: bool = True):
    """The matrix in `path` as CSR (float32), or an InputError naming the file and the fault.

    `allow_duplicates` accepts repeated (row, column) pairs of a COO matrix (summed, as
    repeated events are); a CSR/CSC matrix never may hold them; `non_negative` refuses negative values (weights). NaN and inf are always refused.
    """
    import scipy.sparse as sp

    path = Path(path)
    arrays = _load_arrays(path)
    fmt = arrays.get("format")
    shape = arrays.get("shape")
    if fmt is None or shape is None:
        raise InputError("not a scipy.sparse .npz matrix (no 'format'/'shape' arrays)", path=path)
    fmt = fmt.item().decode() if isinstance(fmt.item(), bytes) else str(fmt.item())
    shape = tuple(int(v) for v in np.asarray(shape).ravel())
    if len(shape) != 2 or min(shape) < 0:
        raise InputError(f"shape {shape} is not a 2-d matrix shape", path=path)
    data = _array(arrays, "data", path)
    _check_values(data, path, non_negative)
    if fmt in COMPRESSED_FORMATS:
        indices, indptr = _array(arrays, "indices", path), _array(arrays, "indptr", path)
        major, minor = shape if fmt == "csr" else shape[::-1]
        _check_compressed(indices, indptr, len(data), major, minor, path, "column" if fmt == "csr" else "row")
        cls = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
        matrix = cls((data.astype(np.float32, copy=False), indices, indptr), shape=shape)
        _check_unique_compressed(matrix, path, fmt)
    elif fmt == "coo":
        row, col = _array(arrays, "row", path), _array(arrays, "col", path)
        if not (len(row) == len(col) == len(data)):
            raise InputError(f"row, col and data differ in length ({len(row)}, {len(col)}, {len(data)})", path=path)
        _check_range(row, shape[0], "row", path)
        _check_range(col, shape[1], "col", path)
        matrix = sp.coo_matrix((data.astype(np.float32, copy=False), (row, col)), shape=shape)
    else:
        raise InputError(f"sparse format {fmt!r} is not supported; save it as csr, csc or coo", path=path)
    matrix = matrix.tocsr()
    matrix.sum_duplicates()
    if fmt == "coo" and not allow_duplicates and matrix.nnz != len(data):  # summing merged repeated pairs
        _report_repeated_pair(row, col, path)
    return matrix


def _load_arrays(path: Path) -> dict:
    if not path.is_file():
        raise InputError("no such .npz file", path=path)
    if path.stat().st_size == 0:
        raise InputError("the .npz file is empty", path=path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError, zipfile.LargeZipFile) as error:
        raise InputError(f"not a readable .npz file (truncated or corrupt: {_one_line(error)})", path=path) from error


def _array(arrays: dict, name: str, path: Path) -> np.ndarray:
    if name not in arrays:
        raise InputError(f"the matrix has no {name!r} array", path=path)
    array = np.asarray(arrays[name])
    if array.ndim != 1:
        raise InputError(f"{name!r} is not a 1-d array (shape {array.shape})", path=path)
    if name != "data" and array.size and not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"{name!r} has dtype {array.dtype}; expected integers", path=path)
    return array


def _check_values(data: np.ndarray, path: Path, non_negative: bool) -> None:
    if data.size and not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
        raise InputError(f"the values have dtype {data.dtype}; expected numbers", path=path)
    if data.size == 0 or data.dtype == bool:
        return
    finite = np.isfinite(data)
    if not finite.all():
        position = int(np.argmin(finite))
        raise InputError(f"stored value {position} is {data[position]}: NaN and infinite weights are refused", path=path)
    if non_negative and (data < 0).any():
        position = int(np.argmax(data < 0))
        raise InputError(f"stored value {position} is {data[position]}: negative weights are refused", path=path)


def _check_range(index: np.ndarray, bound: int, name: str, path: Path) -> None:
    if index.size and (index.min() < 0 or index.max() >= bound):
        bad = int(np.argmax((index < 0) | (index >= bound)))
        raise InputError(f"{name} index {int(index[bad])} at position {bad} is outside 0..{bound - 1}", path=path)


def _check_compressed(indices, indptr, nnz, major, minor, path, minor_name) -> None:
    if len(indptr) != major + 1:
        raise InputError(f"indptr has {len(indptr)} entries; a {major}-row matrix needs {major + 1}", path=path)
    if indptr[0] != 0 or indptr[-1] != nnz or len(indices) != nnz:
        raise InputError(f"indptr runs {int(indptr[0])}..{int(indptr[-1])} over {len(indices)} indices and "
                         f"{nnz} values; expected 0..{nnz} and equal lengths", path=path)
    steps = np.diff(indptr)
    if (steps < 0).any():
        bad = int(np.argmax(steps < 0))
        raise InputError(f"indptr decreases at position {bad + 1} ({int(indptr[bad])} -> {int(indptr[bad + 1])})", path=path)
    _check_range(indices, minor, minor_name, path)


def _check_unique_compressed(matrix, path: Path, fmt: str) -> None:
    """Refuse a (row, column) pair stored twice, in time linear in the stored entries and with
    no copy of the index arrays: rows whose indices are not sorted are sorted in place
    (scipy's per-row sort, which a sorted file skips after its linear check), and in sorted rows
    a repeat is two equal neighbours inside one row."""
    if not matrix.has_sorted_indices:
        matrix.sort_indices()
    indices, indptr = matrix.indices, matrix.indptr
    if len(indices) < 2:
        return
    repeated = indices[1:] == indices[:-1]
    row_starts = indptr[1:-1]
    repeated[row_starts[(row_starts > 0) & (row_starts < len(indices))] - 1] = False  # across two rows
    if repeated.any():
        bad = int(np.argmax(repeated))
        major, minor = int(np.searchsorted(indptr, bad, side="right")) - 1, int(indices[bad])
        row, col = (major, minor) if fmt == "csr" else (minor, major)
        raise InputError(f"entry ({row}, {col}) is stored more than once", path=path)


def _report_repeated_pair(rows: np.ndarray, cols: np.ndarray, path: Path) -> None:
    """The InputError naming one repeated (row, col) of a COO file known to hold one (an error
    path, so sorting is fine here)."""
    order = np.lexsort((cols, rows))
    r, c = rows[order], cols[order]
    bad = int(np.argmax((r[1:] == r[:-1]) & (c[1:] == c[:-1])))
    raise InputError(f"entry ({int(r[bad])}, {int(c[bad])}) is stored more than once", path=path)


def _one_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
