"""Source ids as exact identifiers, and the dense index joined with a source's metadata:
shared by the in-memory (build.py) and the streaming (streaming.py) ingest paths."""

from __future__ import annotations

import polars as pl

from recsys_cli.core.errors import InputError


INTEGER_TEXT = r"^(0|-?[1-9][0-9]{0,18})$"  # no leading zeros: `007` stays a string id


def exact_ids(ids: pl.Series, where: str) -> pl.Series:
    """An id column as exact identifiers: Int64 when every value is an integer written
    without leading zeros (and fits), else the exact strings, so `007` and `7`, or `1.0` and
    `1`, stay two ids. Floats must be whole numbers; lists and other non-scalars are refused."""
    dtype = ids.dtype
    if dtype.is_integer():
        if dtype == pl.UInt64 and ids.max() is not None and ids.max() > 2**63 - 1:
            return ids.cast(pl.String)
        return ids.cast(pl.Int64)
    if dtype.is_float():
        whole = ids.is_null() | (ids.is_finite() & (ids == ids.floor()) & (ids.abs() < 2**53))
        if not whole.all():
            position = int((~whole).arg_max())
            raise InputError(f"row {position + 1}: id {ids[position]!r} is not a whole number; "
                             "ids must be integers or strings", path=where)
        return ids.cast(pl.Int64)
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        text = ids.cast(pl.String)
        integral = text.is_null() | text.str.contains(INTEGER_TEXT)
        if integral.all():
            as_int = text.cast(pl.Int64, strict=False)
            if (as_int.is_null() == text.is_null()).all():  # all fit in 64 bits
                return as_int
        return text
    if dtype == pl.Boolean:
        return ids.cast(pl.String)
    raise InputError(f"ids have type {dtype}; expected scalar integers or strings (not lists or records)", path=where)


def with_metadata(index: pl.DataFrame, metadata: pl.DataFrame | None, key: str, idx: str) -> pl.DataFrame:
    table = index.select(pl.col(idx).cast(pl.Int32), key)
    if metadata is None:
        return table
    metadata = metadata.with_columns(exact_ids(metadata[key], f"{key} column of the metadata"))
    if metadata.schema[key] != table.schema[key]:  # e.g. integer events, string metadata ids
        metadata, table = (frame.with_columns(pl.col(key).cast(pl.String)) for frame in (metadata, table))
    joined = table.join(metadata.unique(key, keep="first", maintain_order=True), on=key, how="left")
    return joined.sort(idx).with_columns(index[key].alias(key))
