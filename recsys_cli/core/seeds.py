"""One seed story: the experiment seed, and the seeds derived from it.

`DEFAULT_SEED` is the one default. Every other seed a run uses (split, validation split,
debug slice, bootstrap intervals, compare's anchor sample and tests) is spawned from the
experiment seed with numpy's `SeedSequence`, unless the config sets it explicitly, so one
`seed:` moves everything and no two purposes share a stream (the validation split is
spawned from the split seed, not `seed + 1`). The run manifest records every seed used.
"""

from __future__ import annotations

DEFAULT_SEED = 42
# Spawn order is part of reproducibility: append new purposes, never reorder.
PURPOSES = ("split", "debug_slice", "bootstrap", "compare")


def derived_seed(seed: int, purpose: str) -> int:
    """The seed for `purpose`, spawned from `seed` (a plain int, stable across releases)."""
    import numpy as np  # imported here: the CLI reads DEFAULT_SEED before any heavy import

    child = np.random.SeedSequence(seed).spawn(len(PURPOSES))[PURPOSES.index(purpose)]
    return int(child.generate_state(1, np.uint32)[0])


def validation_seed(split_seed: int) -> int:
    """The validation split's seed, spawned from the split's own seed."""
    import numpy as np

    return int(np.random.SeedSequence(split_seed).spawn(1)[0].generate_state(1, np.uint32)[0])
