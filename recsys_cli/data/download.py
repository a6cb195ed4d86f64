"""Download official GroupLens archives: resumable, verified, never a corrupt final file.

The archive is fetched to `<name>.part` (resumed with an HTTP Range request when a partial
file is there), its digest checked, and only then renamed to its final name. A digest
mismatch removes the partial file, so the next attempt starts clean.

GroupLens publishes MD5 digests for its frozen releases (the `.md5` files next to each zip);
those are what the registry pins. `--sha256` pins an exact sha256 instead, and the sha256 of
every download is written beside it (`<zip>.sha256`) for the record.

A download is capped: at the archive's known size (plus 5% and 1 MiB of slack) when the
registry's digest is the check, else at `MAX_DOWNLOAD_BYTES`; a server announcing or sending
more is cut off, the partial file removed, and the command fails with a message.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from recsys_cli.core.atomic import write_text
from recsys_cli.core.errors import EnvironmentFailure, InputError

GROUPLENS = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class Archive:
    filename: str
    algorithm: str  # "md5" or "sha256"
    digest: str
    size: int | None = None  # bytes of the published archive

    def cap(self) -> int:
        return int(self.size * 1.05) + (1 << 20) if self.size else MAX_DOWNLOAD_BYTES


ARCHIVES = {
    "movielens-100k": Archive("ml-100k.zip", "md5", "0e33842e24a9c977be4e0107933c0723", 4_924_029),
    "movielens-1m": Archive("ml-1m.zip", "md5", "c4d9eecfca2ab87c1945afe126590906", 5_917_549),
    "movielens-10m": Archive("ml-10m.zip", "md5", "ce571fd55effeba0271552578f2648bd", 65_566_137),
    "movielens-20m": Archive("ml-20m.zip", "md5", "cd245b17a1ae2cc31bb14903e1204af3", 198_702_078),
    "movielens-25m": Archive("ml-25m.zip", "md5", "6b51fb2759a8657d3bfcbfc42b592ada", 261_978_986),
    "movielens-latest-small": Archive(
        "ml-latest-small.zip", "sha256", "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436", 978_202
    ),
}
CHUNK = 1 << 20
MAX_DOWNLOAD_BYTES = 2 << 30  # with --sha256 the size is unknown: no MovieLens archive is near this


def fetch_hint(path: Path) -> str | None:
    """The `recsys download` command that fetches a missing archive (or the folder unpacked
    from one), or None when the name is no archive we know."""
    path = Path(path)
    for name, archive in ARCHIVES.items():
        if path.name in (archive.filename, archive.filename.removesuffix(".zip")):
            return f"recsys download {name} --dir {path.parent} fetches it"
    return None


def known_archive(name: str) -> Archive:
    """The archive called `name`, or an InputError listing the known ones."""
    if name not in ARCHIVES:
        raise InputError(f"unknown dataset {name!r}; expected one of {', '.join(ARCHIVES)}")
    return ARCHIVES[name]


def download_archive(
    name: str,
    directory: Path,
    base_url: str | None = None,
    expected_sha256: str | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
    max_bytes: int | None = None,
) -> Path:
    archive = known_archive(name)
    if expected_sha256:
        archive = Archive(archive.filename, "sha256", expected_sha256.lower())  # size unknown
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / archive.filename
    if final.exists() and _digest(final, archive.algorithm) == archive.digest:
        return final
    part = directory / f"{archive.filename}.part"
    url = f"{(base_url or GROUPLENS).rstrip('/')}/{archive.filename}"
    _fetch(url, part, on_progress, timeout, limit=max_bytes or archive.cap())
    actual = _digest(part, archive.algorithm)
    if actual != archive.digest:
        part.unlink(missing_ok=True)
        raise InputError(
            f"{archive.algorithm} of the download is {actual}, expected {archive.digest}; "
            "the partial file was removed, run the command again (or pass --sha256 if the "
            "publisher changed the archive)",
            path=url,
        )
    os.replace(part, final)
    write_text(directory / f"{archive.filename}.sha256", f"{_digest(final, 'sha256')}  {archive.filename}\n")
    return final


def _too_large(part: Path, url: str, size: int, limit: int) -> InputError:
    part.unlink(missing_ok=True)
    return InputError(f"the server sends {size:,} bytes or more, over this archive's cap of {limit:,}; "
                      "the partial file was removed", path=url)


def _fetch(url: str, part: Path, on_progress, timeout: float, limit: int) -> None:
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the partial file is already complete
            return
        failure = InputError if 400 <= error.code < 500 else EnvironmentFailure  # a wrong URL, or a server down
        raise failure(f"HTTP {error.code} {error.reason}", path=url) from error
    except (urllib.error.URLError, OSError) as error:
        raise EnvironmentFailure(f"could not connect ({getattr(error, 'reason', error)}); check the network "
                                 "(or --base-url); the partial download, if any, is kept and resumes next time",
                                 path=url) from error
    with response:
        resumed = response.status == 206
        length = response.headers.get("Content-Length")
        total = (int(length) + (have if resumed else 0)) if length and length.isdigit() else None
        if total is not None and total > limit:
            raise _too_large(part, url, total, limit)
        done = have if resumed else 0
        try:
            with open(part, "ab" if resumed else "wb") as handle:
                while chunk := response.read(CHUNK):
                    if done + len(chunk) > limit:
                        handle.close()
                        raise _too_large(part, url, done + len(chunk), limit)
                    handle.write(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(done, total)
        except (OSError, urllib.error.URLError, http.client.HTTPException) as error:
            raise EnvironmentFailure(f"download interrupted at {done:,} bytes ({error}); run again to resume",
                                     path=url) from error
    if total is not None and done < total:
        raise EnvironmentFailure(f"download interrupted at {done:,} of {total:,} bytes; run again to resume", path=url)


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK * 4):
            digest.update(chunk)
    return digest.hexdigest()
