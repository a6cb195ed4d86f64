"""One seed story: the experiment seed, and the seeds derived from it.

`DEFAULT_SEED` is the one default. Every other seed a run uses (split, validation split,
debug slice, bootstrap intervals, compare's anchor sample and tests) is spawned from the
experiment seed with numpy's `SeedSequence`, unless the config sets it explicitly, so one
`seed:` moves everything and no two purposes share a stream (the validation split is
spawned from the split seed, not `seed + 1`). Numbered parts of one purpose (the splits of
`split: {repeats: R}`, the extra validation folds of `tune: {folds: F}`) take
`stream_seed(seed, STREAM, index)`: a stream tagged by its purpose, so that no part's seed
equals another purpose's (a plain `SeedSequence(seed).spawn(n)` would give repeat 1 the
validation seed of split 0). The run manifest records every seed used.
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


def stream_seed(seed: int, stream: int, index: int) -> int:
    """Seed number `index` of the stream tagged `stream` under `seed` (a SeedSequence spawn
    key of its own, apart from the `spawn()` children above)."""
    import numpy as np

    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(stream, index))
    return int(sequence.generate_state(1, np.uint32)[0])
