"""`recsys generate LAYOUT`: the synthetic likes written as a raw source in a layout, at
`out` (a folder, or a zip when `out` ends in .zip), so that an example config runs with no
download. The target is written under a temporary name and renamed; an existing target is
replaced (atomically) only with `force`, and only when `recsys generate` wrote it (a `.recsys-generated`
file in a folder, the archive comment of a zip): nothing the user put there is destroyed."""

from __future__ import annotations

import importlib
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from recsys_cli.core.atomic import atomic_directory, write_atomically
from recsys_cli.core.errors import InputError
from recsys_cli.core.seeds import DEFAULT_SEED
from recsys_cli.data.generators import layout, preset as preset_spec

MARK = ".recsys-generated"
ZIP_COMMENT = b"recsys generate "
ZIP_DATE = (2000, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Generated:
    layout: str
    format: str
    path: Path  # what was written
    ingest_path: Path  # what `recsys ingest FORMAT` reads
    files: list[str]  # relative to `path`
    preset: str
    seed: int


def generate(name: str, out: str | Path, preset: str = "small", seed: int = DEFAULT_SEED,
             force: bool = False) -> Generated:
    from recsys_cli.data.layouts.world import make_world

    entry = layout(name)
    preset_spec(preset)
    out = Path(out)
    _check_target(out, force)
    module, function = entry.writer.split(":")
    write = getattr(importlib.import_module(module), function)
    world = make_world(preset, seed)
    stamp = {"layout": name, "preset": preset, "seed": seed}
    if out.suffix == ".zip":
        with tempfile.TemporaryDirectory(prefix=".recsys-generate-", dir=_parent(out)) as scratch:
            write(world, Path(scratch))
            files = _files(Path(scratch))
            write_atomically(out, lambda tmp: _zip(Path(scratch), tmp, out.stem, stamp))
        files = [f"{out.stem}/{f}" for f in files]
    else:
        with atomic_directory(out) as tmp:
            write(world, tmp)
            files = _files(tmp)
            (tmp / MARK).write_text(json.dumps(stamp) + "\n", encoding="utf-8")
    return Generated(name, entry.format, out, entry.ingest_path(out), files, preset, seed)


def _parent(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.parent


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _zip(folder: Path, archive: Path, top: str, stamp: dict) -> None:
    """The files under `top/` as in GroupLens' archives, stamped in the archive comment."""
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in _files(folder):
            member = zipfile.ZipInfo(f"{top}/{name}", date_time=ZIP_DATE)  # same seed, same bytes
            member.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(member, (folder / name).read_bytes())
        bundle.comment = ZIP_COMMENT + json.dumps(stamp).encode()


def _check_target(out: Path, force: bool) -> None:
    if out.is_symlink():
        raise InputError("is a symbolic link; give the real path to write the generated data to", path=out)
    if not out.exists():
        return
    if out.is_dir() and not any(out.iterdir()):
        return
    if not _ours(out):
        raise InputError("exists and was not written by `recsys generate`; refusing to replace it: "
                         "choose a new path", path=out)
    if not force:
        raise InputError("exists (written by `recsys generate`); --force replaces it", path=out)


def _ours(out: Path) -> bool:
    if out.is_dir():
        return (out / MARK).is_file()
    try:
        with zipfile.ZipFile(out) as bundle:
            return bundle.comment.startswith(ZIP_COMMENT)
    except (zipfile.BadZipFile, OSError):
        return False
