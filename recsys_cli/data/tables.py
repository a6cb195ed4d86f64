"""What a source-format reader hands to the dataset builder, and helpers readers share.

A reader turns raw files into `SourceTables`: a (lazy) event log with original ids and
optional item/user metadata. Everything after that — cleaning, filters, indexing, the CSR
matrix, the folder on disk — is format-independent and lives in `data/build.py`.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from recsys_cli.data.compression import check_expansion, check_stream
from recsys_cli.core.errors import InputError

EVENT_COLUMNS = ("user_id", "item_id", "weight", "timestamp")

@dataclass
class SourceTables:
    """events: user_id, item_id, weight (Float32), timestamp (Int64 seconds, nullable).

    Rows keep the source's order, which breaks ties between equal timestamps.
    `stats` carries counts the reader wants recorded in dataset.json (dropped rows...).
    """

    events: pl.LazyFrame
    files: list[Path]
    items: pl.DataFrame | None = None
    users: pl.DataFrame | None = None
    stats: dict = field(default_factory=dict)
    weight_kind: str = "implicit"  # "rating" when weights are explicit ratings
    aggregate: bool = False  # too big for one row per event: stream into pairs (data/streaming.py)


def require_columns(columns, required, path, *, what="column") -> None:
    missing = [name for name in required if name not in columns]
    if missing:
        raise InputError(
            f"missing {what}(s) {', '.join(repr(m) for m in missing)}; "
            f"found {', '.join(repr(c) for c in columns) or 'none'}",
            path=path,
        )


def first_existing(folder: Path, names: list[str]) -> Path | None:
    for name in names:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def read_csv(source, path: Path | str, **kwargs) -> pl.DataFrame:
    """polars.read_csv with its parse errors turned into an InputError naming the file.

    A path is opened here and handed over as a file, so polars never reads it as a glob
    (`plays[1].csv`, `plays*.csv` are file names), after its decompressed size is checked."""
    try:
        if isinstance(source, (str, Path)):
            with open(source, "rb") as handle:
                check_stream(handle, str(path))
                frame = pl.read_csv(handle, **kwargs)
        else:
            if isinstance(source, io.BytesIO):  # a zip member: gzip'd inside is bounded too
                check_stream(source, str(path))
            frame = pl.read_csv(source, **kwargs)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as error:
        raise InputError(f"could not read as CSV: {_first_line(error)}", path=path) from error
    if frame.height == 0:
        raise InputError("the file has no data rows", path=path)
    return frame


def scan_parquet(path: Path) -> pl.LazyFrame:
    try:
        frame = pl.scan_parquet(path, glob=False)
        frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise InputError(f"could not read as Parquet: {_first_line(error)}", path=path) from error
    return frame


def collect(frame: pl.LazyFrame, path: Path | str) -> pl.DataFrame:
    try:
        return frame.collect()
    except pl.exceptions.PolarsError as error:
        raise InputError(_first_line(error), path=path) from error


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def to_epoch_seconds(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Date, Datetime, numeric seconds or ISO strings -> Int64 Unix seconds."""
    if dtype == pl.Date:
        return expr.cast(pl.Datetime("ms")).dt.epoch("s")
    if isinstance(dtype, pl.Datetime):
        return expr.dt.epoch("s")
    if dtype.is_numeric():
        return expr.cast(pl.Int64)
    if dtype == pl.String:
        return expr.str.to_datetime(strict=True).dt.epoch("s")
    raise TypeError(f"cannot read {dtype} as a time")


def first_failing_row(frame: pl.DataFrame | pl.LazyFrame, column: str, converted: pl.Expr, path) -> dict | None:
    """The first row (1-based `row`, `value`) whose non-null `column` converts to null."""
    bad = (frame.lazy().with_row_index("_row").filter(pl.col(column).is_not_null() & converted.is_null())
           .select("_row", pl.col(column)).head(1))
    found = collect(bad, path)
    return None if found.height == 0 else {"row": found["_row"][0] + 1, "value": found[column][0]}


def _all_numbers(frame, column: str, path) -> bool:
    text = pl.col(column).str.strip_chars()
    numeric = collect(frame.lazy().select((text.is_null() | text.cast(pl.Float64, strict=False).is_not_null()).all()), path)
    return bool(numeric.item())


def checked_time(frame: pl.DataFrame | pl.LazyFrame, column: str, path: Path) -> pl.Expr:
    """The expression converting `column` to seconds, or an InputError naming the column and
    the first row it can't convert."""
    dtype = frame.collect_schema()[column]
    if dtype == pl.String and _all_numbers(frame, column, path):  # Unix seconds read as text
        return pl.col(column).str.strip_chars().cast(pl.Float64).cast(pl.Int64)
    try:
        expr = to_epoch_seconds(pl.col(column), dtype)
    except TypeError:
        raise InputError(
            f"column {column!r} has type {dtype}; expected a date, datetime, "
            "Unix seconds or an ISO date string",
            path=path,
        ) from None
    if dtype == pl.String:
        try:
            bad = first_failing_row(frame, column, pl.col(column).str.to_datetime(strict=False), path)
        except InputError:
            bad = {"row": "?", "value": "(mixed formats)"}
        if bad is not None:
            raise InputError(f"row {bad['row']}, column {column!r}: {_short_value(bad['value'])} is not a date or "
                             "time (expected ISO 8601, e.g. 2022-12-16 or 2022-12-16T10:00:00)", path=path)
    return expr


def checked_number(frame: pl.DataFrame | pl.LazyFrame, column: str, path: Path) -> pl.Expr:
    """`column` as Float32, or an InputError naming the first row that is not a number."""
    dtype = frame.collect_schema()[column]
    if dtype.is_numeric() or dtype == pl.Boolean:
        return pl.col(column).cast(pl.Float32)
    if dtype != pl.String:
        raise InputError(f"column {column!r} has type {dtype}; expected numbers", path=path)
    bad = first_failing_row(frame, column, pl.col(column).str.strip_chars().cast(pl.Float64, strict=False), path)
    if bad is not None:
        raise InputError(f"row {bad['row']}, column {column!r}: {_short_value(bad['value'])} is not a number", path=path)
    return pl.col(column).str.strip_chars().cast(pl.Float32)


def _short_value(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def checked_integer_id(frame: pl.DataFrame | pl.LazyFrame, column: str, path: Path | str) -> pl.Expr:
    """`column` as Int64 ids, or an InputError naming the file, the column and the first row
    whose value is not an integer id (text that is no integer, a float with a fraction, NaN,
    inf or beyond Int64)."""
    dtype = frame.collect_schema()[column]
    if dtype.is_integer():
        return pl.col(column).cast(pl.Int64)
    if dtype.is_float():
        number = pl.col(column)
        converted = pl.when(number.is_finite() & (number == number.floor())).then(number.cast(pl.Int64, strict=False))
    elif dtype in (pl.String, pl.Categorical):
        converted = pl.col(column).cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    else:
        raise InputError(f"column {column!r} has type {dtype}; expected integer ids", path=path)
    bad = first_failing_row(frame, column, converted, path)
    if bad is not None:
        raise InputError(f"row {bad['row']}, column {column!r}: {_short_value(bad['value'])} is not an integer id",
                         path=path)
    return converted


def ensure_integer_ids(frame: pl.DataFrame, column: str, path: Path | str) -> pl.DataFrame:
    """`frame` with `column` as Int64 ids (checked_integer_id's checks and message)."""
    return frame.with_columns(checked_integer_id(frame, column, path).alias(column))


class Bundle:
    """Files of a dataset given as a folder or as a zip archive, found by base name."""

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            self._zip = None
            self._names = {p.name: p for p in sorted(path.rglob("*")) if p.is_file()}
        elif zipfile.is_zipfile(path):
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as error:
                raise InputError(f"not a readable zip archive ({error})", path=path) from None
            self._names = {
                Path(name).name: name for name in self._zip.namelist() if not name.endswith("/")
            }
        else:
            raise InputError("expected a folder or a .zip archive", path=path)

    def has(self, name: str) -> bool:
        return name in self._names

    def location(self, name: str) -> str:
        """Where a member is, for messages: the file path, or `archive.zip!member`."""
        member = self._names[name]
        return str(member) if self._zip is None else f"{self.path}!{member}"

    def read_bytes(self, name: str) -> bytes:
        member = self._names[name]
        return member.read_bytes() if self._zip is None else self._read_member(name)

    def open(self, name: str):
        """A path polars can read directly, or an in-memory buffer for zip members."""
        member = self._names[name]
        return member if self._zip is None else io.BytesIO(self._read_member(name))

    def _read_member(self, name: str) -> bytes:
        """A zip member within the decompression bounds; a damaged one is a message."""
        info = self._zip.getinfo(self._names[name])
        check_expansion(info.compress_size, info.file_size, self.location(name))
        try:
            return self._zip.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
            raise InputError(f"damaged zip member ({error})", path=self.location(name)) from None

    def files(self) -> list[Path]:
        """Files whose digests fingerprint this source."""
        return [self.path] if self._zip is not None else list(self._names.values())


def decode_text(raw: bytes) -> str:
    """UTF-8 if it decodes, else latin-1 (old MovieLens and other legacy files)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
