"""Freed memory goes back to the system as a run goes on, so its peak is what it holds.

A run allocates and frees large arrays stage after stage (the fit's weighted copies, each
evaluation batch's scores, the export's tables). Two allocators keep what was freed:

- glibc raises its mmap threshold each time a large block is freed (up to 32 MB), after which
  arrays of that size come from the heap and stay resident when freed: the Dzen-shaped
  default run peaked 80-100 MB above what it held. A fixed threshold of 4 MB (setting it
  explicitly turns the raising off) keeps every array from 4 MB up its own mapping, unmapped
  on free; smaller ones stay pooled (a 128 KB threshold saved a few MB more for more page
  faults: +1 s of system time over the Dzen run).
- polars' jemalloc keeps freed pages for 10 s: the export's joins left ~50 MB resident
  through the report. Its decay is set by `_RJEM_MALLOC_CONF`, read when polars loads;
  a user's own setting is kept.

Measured with `python benchmarks/run_ials_dzen.py` (docs: benchmarks/README.md, issue 28).
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 4 << 20
POLARS_ALLOCATOR = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")


def return_freed_memory() -> None:
    """Set both allocators to give freed memory back at once (before polars is imported)."""
    os.environ.setdefault(*POLARS_ALLOCATOR)
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return  # the user's own glibc setting
    try:
        process = ctypes.CDLL(None)  # the C library Python itself runs on
    except OSError:
        return
    if hasattr(process, "mallopt"):  # glibc; elsewhere nothing to set
        process.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
