"""Drawn charts kept by what they were drawn from.

A report page of an unchanged re-run shows the same charts as the run before; drawing them
is most of a re-run's time (matplotlib's import and SVG rendering). So each chart's SVG is
stored under `<runs_dir>/.store/charts/<key>.svg`, the key hashing the chart function, its
arguments, its id on the page and the chart code itself; a cached chart is read back without
importing matplotlib. Run folders outside a runs folder (no `.store` beside them) draw every
time. `recsys runs prune` empties the cache: it only ever saves time. Each cached SVG ends in
a comment holding the sha256 of the rest; a cached chart that does not match it is drawn again.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Callable

from recsys_cli import __version__
from recsys_cli.core.atomic import write_text
from recsys_cli.store.artifacts import CHARTS_DIR, STORE_DIR


def _code_digest() -> str:
    from recsys_cli.report.html import charts

    return hashlib.sha256(Path(charts.__file__).read_bytes() + __version__.encode()).hexdigest()


class ChartCache:
    def __init__(self, folder: Path | None):
        self.folder = folder
        self._code = None

    @classmethod
    def for_run(cls, run_dir: Path) -> "ChartCache":
        store = Path(run_dir).resolve().parent.parent / STORE_DIR
        return cls(store / CHARTS_DIR if store.is_dir() else None)

    def svg(self, chart_id: str, draw: Callable, *args, **kwargs) -> str:
        """`charts.to_svg(draw(*args, **kwargs), chart_id)`, from the cache when it holds it."""
        from recsys_cli.report.html import charts

        path = self._path(chart_id, draw, args, kwargs)
        if path is not None:
            try:
                cached = _checked(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                cached = None
            if cached is not None:
                return cached
        text = charts.to_svg(draw(*args, **kwargs), chart_id)
        if path is not None:
            write_text(path, f"{text}{SEAL}{hashlib.sha256(text.encode()).hexdigest()} -->")
        return text

    def _path(self, chart_id: str, draw: Callable, args, kwargs) -> Path | None:
        if self.folder is None:
            return None
        if self._code is None:
            self._code = _code_digest()
        try:
            payload = pickle.dumps((self._code, chart_id, draw.__qualname__, args, kwargs), protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError):
            return None  # an argument that cannot be hashed: draw it
        return self.folder / f"{hashlib.sha256(payload).hexdigest()[:32]}.svg"


SEAL = "\n<!-- recsys sha256 "


def _checked(stored: str) -> str | None:
    """The chart in a cached file, or None when its sha256 comment does not match it."""
    text, marker, tail = stored.rpartition(SEAL)
    if not marker or tail.removesuffix(" -->") != hashlib.sha256(text.encode()).hexdigest():
        return None
    return text
