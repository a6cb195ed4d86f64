"""What code computes: recsys_cli's own modules and the numeric libraries it calls.

A stored artifact or a re-run record made by other code is not what this code would make,
so both are addressed with this digest: an edit of a module or an upgrade of a library
changes it, and the next run computes afresh instead of reusing what the old code made.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

LIBRARIES = ("numpy", "scipy", "polars", "implicit", "optuna", "pydantic", "numba", "lightgbm", "sklearn")


@functools.cache
def code_state() -> str:
    """A digest of the path, size and modification time of every recsys_cli module and of
    each library's entry file (no imports; computed once a process)."""
    from importlib.util import find_spec

    package = Path(__file__).resolve().parent.parent
    facts = []
    for folder, _, files in os.walk(package):
        for name in sorted(f for f in files if f.endswith(".py")):
            info = os.stat(os.path.join(folder, name))
            facts.append((os.path.relpath(os.path.join(folder, name), package), info.st_size, info.st_mtime_ns))
    for library in LIBRARIES:
        spec = find_spec(library)
        origin = spec.origin if spec is not None else None
        info = os.stat(origin) if origin and os.path.exists(origin) else None
        facts.append((library, origin, info.st_size if info else None, info.st_mtime_ns if info else None))
    return hashlib.sha256(json.dumps(sorted(facts, key=str)).encode()).hexdigest()
