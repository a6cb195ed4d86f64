"""Registry of source formats: name -> module with `read(path, **options) -> SourceTables`.

Modules are imported on use, so listing formats (and `recsys --help`) stays instant.
Adding a format is one module in `data/formats/` plus one line here.
"""

from __future__ import annotations

import importlib
from typing import Callable

from recsys_cli.data.tables import SourceTables
from recsys_cli.core.errors import InputError

FORMATS = {
    "movielens": "recsys_cli.data.formats.movielens",
    "dzen": "recsys_cli.data.formats.dzen",
    "ozon": "recsys_cli.data.formats.ozon",
    "yandex-music": "recsys_cli.data.formats.yandex_music",
    "yambda": "recsys_cli.data.formats.yambda",
    "npz": "recsys_cli.data.formats.npz",
    "table": "recsys_cli.data.formats.table",
    "synthetic": "recsys_cli.data.formats.synthetic",
}


def reader(name: str) -> Callable[..., SourceTables]:
    if name not in FORMATS:
        raise InputError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}")
    return importlib.import_module(FORMATS[name]).read
