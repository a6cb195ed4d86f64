"""Compressed input, told by its magic bytes whatever the file is called: bounded before
anything reads it, and readable as text for sniffing a separator.

polars' CSV reader decompresses gzip, zlib and zstd on its own, in memory and without a
limit, so such a file is first stream-decompressed here (nothing kept) and refused once it
breaks a bound. bzip2 and xz, which polars cannot read (it would parse their bytes as text),
are refused with what to do instead.

Bounds: compressed input may expand to at most MAX_DECOMPRESSED bytes and, beyond
RATIO_CHECK_FROM bytes, to at most MAX_RATIO times its compressed size (real interaction
logs compress 3-15x; a bomb of zeros ~1000x). RECSYS_MAX_DECOMPRESSED_BYTES raises the
absolute bound.
"""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

from recsys_cli.core.errors import InputError

MAX_DECOMPRESSED = int(os.environ.get("RECSYS_MAX_DECOMPRESSED_BYTES", 16 << 30))
MAX_RATIO = 100
RATIO_CHECK_FROM = 64 << 20
CHUNK = 1 << 20
SNIFF_BYTES = 4 << 20  # what a separator guess may decompress
COMPRESSION_SUFFIXES = {".gz", ".gzip", ".z", ".zz", ".zst", ".zstd"}

UNREADABLE = {b"BZh": ("bzip2", "bunzip2 -k"), b"\xfd7zXZ\x00": ("xz", "unxz -k")}


def check_expansion(compressed: int, expanded: int, where: str) -> None:
    """Refuse input whose decompressed size breaks the bounds above."""
    if expanded > MAX_DECOMPRESSED:
        raise InputError(f"decompresses to more than {MAX_DECOMPRESSED:,} bytes; refusing to read it "
                         "(set RECSYS_MAX_DECOMPRESSED_BYTES to allow more)", path=where)
    if expanded > RATIO_CHECK_FROM and expanded > MAX_RATIO * max(compressed, 1):
        raise InputError(f"{compressed:,} compressed bytes expand to over {expanded:,} "
                         f"(more than {MAX_RATIO}x): refusing a likely decompression bomb", path=where)


# The headers zlib writes at its four levels, the ones polars recognises. RFC 1950 allows more
# (any 0x78 xx with a valid check), but "x " or "x?" may begin a plain text table.
ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")


def kind(head: bytes) -> str | None:
    """'gzip', 'zlib', 'zstd', 'bzip2', 'xz' from a file's first bytes, or None (plain)."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:2] in ZLIB_HEADERS:
        return "zlib"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    for magic, (name, _) in UNREADABLE.items():
        if head.startswith(magic):
            return name
    return None


def refuse_unreadable(compression: str | None, where: str) -> None:
    if compression in ("bzip2", "xz"):
        command = dict(UNREADABLE.values())[compression]
        raise InputError(f"is {compression}-compressed, which cannot be read directly; decompress it first "
                         f"({command} FILE) or recompress it with gzip or zstd", path=where)


def _corrupt_errors() -> tuple[type[Exception], ...]:
    import zstandard

    return (zlib.error, zstandard.ZstdError, OSError, EOFError)


def _chunks(handle: BinaryIO, compression: str) -> Iterator[bytes]:
    """The decompressed bytes of `handle`, in chunks of at most ~16 MiB."""
    if compression == "zstd":
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True, closefd=False) as reader:
            while chunk := reader.read(1 << 24):
                yield chunk
        return
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if compression == "gzip" else zlib.MAX_WBITS)
    while data := handle.read(CHUNK):
        while data:
            yield inflater.decompress(data, 1 << 24)
            data = inflater.unconsumed_tail
        if inflater.eof:
            return


def _inspect(handle: BinaryIO, where: str) -> tuple[str | None, int]:
    """(compression, compressed size) of the seekable `handle`, refusing what polars cannot
    read; the handle is left at its start."""
    compression = kind(handle.read(6))
    refuse_unreadable(compression, where)
    size = handle.seek(0, io.SEEK_END)
    handle.seek(0)
    return compression, size


def _bounded_chunks(handle: BinaryIO, compression: str, size: int, where: str) -> Iterator[bytes]:
    """`_chunks`, refused (InputError) once the bounds break or the stream is corrupt."""
    expanded = 0
    try:
        for chunk in _chunks(handle, compression):
            expanded += len(chunk)
            check_expansion(size, expanded, where)
            yield chunk
    except _corrupt_errors() as error:
        raise InputError(f"corrupt {compression} data ({error})", path=where) from None


def check_stream(handle: BinaryIO, where: str) -> None:
    """Refuse (InputError) compressed content in the seekable binary `handle` that polars
    cannot read or that breaks the bounds, decompressing it once without keeping it; the
    handle is left at its start."""
    compression, size = _inspect(handle, where)
    if compression is None:
        return
    try:
        for _ in _bounded_chunks(handle, compression, size, where):
            pass
    finally:
        handle.seek(0)


def first_text_lines(path: Path, count: int) -> list[str]:
    """Up to the first `count` lines of a plain, gzip, zlib or zstd text file (UTF-8, bad
    bytes replaced), from at most SNIFF_BYTES of its (decompressed) content."""
    with open(path, "rb") as handle:
        compression, _ = _inspect(handle, str(path))
        if compression is None:
            source = handle.read(SNIFF_BYTES)
        else:
            source, chunks = b"", _chunks(handle, compression)
            try:
                while source.count(b"\n") < count and len(source) < SNIFF_BYTES and (chunk := next(chunks, b"")):
                    source += chunk
            except _corrupt_errors():
                pass  # a corrupt stream is reported by check_stream when the table is read
    return source[:SNIFF_BYTES].decode("utf-8", errors="replace").splitlines()[:count]


def decompressed_bytes(path: Path) -> bytes:
    """The whole content of a plain, gzip, zlib or zstd file, within the bounds (one pass)."""
    with open(path, "rb") as handle:
        compression, size = _inspect(handle, str(path))
        if compression is None:
            return handle.read()
        return b"".join(_bounded_chunks(handle, compression, size, str(path)))


def data_suffix(path: Path) -> str:
    """The suffix that names the content: `.csv` for plays.csv, plays.csv.gz, plays.csv.zst."""
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""
