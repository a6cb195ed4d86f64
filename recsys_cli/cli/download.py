"""`recsys download NAME`: fetch an official GroupLens archive, checked and resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.common import QuietOption, err_console, out_console, safe
from recsys_cli.data.download import ARCHIVES


def download(
    name: Annotated[str, typer.Argument(help=f"One of {', '.join(ARCHIVES)}.")],
    dir: Annotated[Path, typer.Option("--dir", help="Where the archive goes.")] = Path("data/raw"),
    base_url: Annotated[Optional[str], typer.Option(
        envvar="RECSYS_DOWNLOAD_BASE_URL", help="A mirror to fetch from instead of files.grouplens.org.")] = None,
    sha256: Annotated[Optional[str], typer.Option(help="Expected sha256 of the archive (overrides the built-in one).")] = None,
    quiet: QuietOption = False,
):
    """Download a MovieLens zip into --dir; a partial download resumes on the next call
    (`recsys generate movielens-1m` writes a generated one of the same layout and name).

    Example: recsys download movielens-1m --dir data/raw && recsys ingest movielens data/raw/ml-1m.zip --out data/ml-1m --min-rating 4
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from recsys_cli.data.download import download_archive, known_archive

    known_archive(name)  # an unknown name fails before any progress bar is drawn
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=err_console, disable=quiet) as progress:
        task = progress.add_task(safe(name), total=None)

        def on_progress(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        path = download_archive(name, dir, base_url=base_url, expected_sha256=sha256, on_progress=on_progress)
    if not quiet:
        out_console.print(f"[green]downloaded and verified:[/] {safe(path)}")
