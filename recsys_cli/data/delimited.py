"""Reading delimited text the way people hand it over: with or without a header row,
separators of several characters (MovieLens' `::`), the separator guessed for .dat/.txt
files, and a header row that is really data refused instead of silently eaten.

Used by the `table` format; polars does the parsing (a multi-character separator is mapped
to one unused byte first, since polars' separator is a single byte).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import polars as pl

from recsys_cli.data.compression import data_suffix, decompressed_bytes, first_text_lines
from recsys_cli.data.tables import read_csv
from recsys_cli.core.errors import InputError

CANDIDATES = ("::", "\t", "|", ";", ",")  # tried in this order: '::' before ':'-free ones
SNIFF_LINES = 20
STAND_IN = "\x1f"  # ASCII unit separator: the byte a multi-character separator becomes
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _first_lines(path: Path) -> list[str]:
    return [line for line in first_text_lines(path, SNIFF_LINES) if line.strip()]


def guess_separator(path: Path) -> str | None:
    """The candidate found the same number of times (at least once) on every one of the
    first lines; None when no candidate is consistent."""
    lines = _first_lines(path)
    for candidate in CANDIDATES:
        counts = {line.count(candidate) for line in lines}
        if lines and len(counts) == 1 and counts != {0}:
            return candidate
    return None


def separator_for(path: Path, sep: str | None) -> str:
    """The separator to use: the one given (`\\t` and `tab` mean a tab), ',' for .csv, a tab
    for .tsv, else the guessed one."""
    if sep is not None:
        if sep == "":
            raise InputError("--sep must not be empty")
        return "\t" if sep in ("\\t", "tab") else sep
    suffix = data_suffix(path)
    if suffix == ".csv":
        return ","
    if suffix == ".tsv":
        return "\t"
    guessed = guess_separator(path)
    if guessed is None:
        raise InputError("could not tell the separator from the first lines; give --sep "
                         "(e.g. --sep '::' for MovieLens .dat, --sep tab, --sep ',')", path=path)
    return guessed


def looks_like_data(names: list[str]) -> bool:
    """A 'header' whose every field is a number is a data row (ids, counts, timestamps)."""
    return bool(names) and all(NUMBER.match(name.strip()) for name in names)


def read_delimited(path: Path, sep: str | None, header: bool) -> pl.DataFrame:
    """The table, with its own column names, or `1`, `2`, ... without a header row. Every
    column is read as exact text: ids are identifiers (the builder makes them integers only
    when every one is an integer without leading zeros), numbers are parsed by the caller,
    which names the first bad row."""
    separator = separator_for(path, sep)
    if len(separator.encode()) == 1:
        source, parse_with = path, separator
    else:  # polars parses one-byte separators only
        source, parse_with = io.BytesIO(decompressed_bytes(path).replace(separator.encode(), STAND_IN.encode())), STAND_IN
    frame = read_csv(source, path, separator=parse_with, has_header=header, infer_schema=False)
    if frame.width == 1:  # a user and an item column need two: the separator is wrong
        guessed = guess_separator(path)
        hint = f"; it looks separated by {guessed!r}: --sep {guessed!r}" if guessed and guessed != separator else ""
        raise InputError(f"the file reads as a single column with separator {separator!r}{hint}", path=path)
    if not header:
        return frame.rename({old: str(i) for i, old in enumerate(frame.columns, start=1)})
    if looks_like_data(frame.columns):
        shown = ", ".join(frame.columns[:6])
        raise InputError(f"the first line ({shown}) looks like data, not a header; pass --no-header "
                         "(columns are then 1, 2, ...: --user 1 --item 2)", path=path)
    return frame


def resolve_column(frame: pl.DataFrame, name: str, path: Path) -> str:
    """A column by name, or by 1-based position (`--user 1`) when no column has that name."""
    if name in frame.columns or not name.isdigit():
        return name
    position = int(name)
    if not 1 <= position <= frame.width:
        raise InputError(f"column position {position} is out of range: the file has {frame.width} columns",
                         path=path)
    return frame.columns[position - 1]
