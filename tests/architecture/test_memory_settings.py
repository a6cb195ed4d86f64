"""The allocator settings every command starts with (core/memory.py) keep a user's own."""

from __future__ import annotations

import subprocess
import sys


def _settings(env: dict) -> str:
    code = ("import os\nfrom recsys_cli.core.memory import return_freed_memory\nreturn_freed_memory()\n"
            "print(os.environ['_RJEM_MALLOC_CONF'])\n")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_polars_returns_freed_pages_at_once_unless_the_user_says_otherwise():
    import os

    base = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    assert _settings(base) == "dirty_decay_ms:0,muzzy_decay_ms:0"
    assert _settings({**base, "_RJEM_MALLOC_CONF": "dirty_decay_ms:5000"}) == "dirty_decay_ms:5000"
