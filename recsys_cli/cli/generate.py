"""`recsys generate LAYOUT`: generated raw data in a source's own layout, where the example
config (or `recsys download`) would put the real files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.common import JsonOption, QuietOption, emit_json, key_value_table, out_console, safe
from recsys_cli.core.seeds import DEFAULT_SEED
from recsys_cli.data.generators import LAYOUTS, PRESETS


def generate(
    layout: Annotated[str, typer.Argument(metavar="LAYOUT", help=f"One of {', '.join(LAYOUTS)}.")],
    dir: Annotated[Path, typer.Option("--dir", help="Where it goes, under the layout's usual name "
                                      f"({', '.join(f'{n}: {e.target}' for n, e in LAYOUTS.items())}).")] = Path("data/raw"),
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="The exact path instead (a .zip for a zipped layout, "
                                                "else a folder).")] = None,
    preset: Annotated[str, typer.Option(help="Size: " + "; ".join(f"{n}: {p.what}" for n, p in PRESETS.items()) + ".")] = "small",
    seed: Annotated[int, typer.Option(help="Generator seed (the same seed gives the same files).")] = DEFAULT_SEED,
    force: Annotated[bool, typer.Option("--force", help="Replace what an earlier `recsys generate` wrote there (never "
                                        "anything else).")] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
):
    """Write the built-in synthetic likes as raw files in a real source's layout (no download), so
    every example config runs on a fresh machine; `recsys ingest FORMAT` reads them like the real data.

    Example: recsys generate ozon && recsys run configs/ozon.yaml

    Example: recsys generate movielens-1m --dir data/raw   # data/raw/ml-1m.zip, as `recsys download` names it
    """
    from recsys_cli.data.generators import layout as known_layout
    from recsys_cli.data.layouts.generate import generate as write_layout

    target = out if out is not None else dir / known_layout(layout).target
    result = write_layout(layout, target, preset=preset, seed=seed, force=force)
    command = f"recsys ingest {result.format} {result.ingest_path} --out data/{target.name.removesuffix('.zip')}"
    if as_json:
        emit_json({"layout": result.layout, "path": str(result.path), "format": result.format,
                   "ingest_path": str(result.ingest_path), "files": result.files,
                   "preset": result.preset, "seed": result.seed, "ingest": command})
    elif not quiet:
        out_console.print(f"[green]generated {safe(layout)} ({safe(preset)}, seed {seed}):[/] {safe(result.path)}")
        out_console.print(key_value_table("", {"files": result.files, "read it with": command}))
