"""Extra validation folds for tuning (`tune: {folds: 3}`): more seeded draws of the split's
validation part, carved out of train with the same strategy and parameters.

Fold 0 is the split folder's own `valid_train`/`valid`; folds 1.. are drawn here, on the fly
(the draw is vectorised and takes well under a second), from seeds spawned off the split's
seed, so the same split always gives the same folds. Only random strategies have folds: a
time-based validation part is the same whatever the seed.
"""

from __future__ import annotations

import numpy as np

from recsys_cli.data import split_strategies, splits
from recsys_cli.core.errors import InputError

FOLD_STREAM = 0x7F01D  # tags the seed stream of extra folds, apart from the split's own draws


def fold_seed(split_seed: int, fold: int) -> int:
    """An independent seed for validation fold `fold` (1, 2, ...) of a split seeded `split_seed`."""
    sequence = np.random.SeedSequence(entropy=split_seed, spawn_key=(FOLD_STREAM, fold))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def check_folds(strategy: str, folds: int) -> None:
    if folds > 1 and strategy in split_strategies.time_strategies():
        raise InputError(
            f"tune.folds: {folds} needs a random split strategy; {strategy!r} validation is "
            "the same whatever the seed (use folds: 1)")


def extra_folds(train, strategy: str, params: dict, split_seed: int, folds: int) -> list[tuple]:
    """Validation folds 1..folds-1 as (valid_train, valid, history, fold_in) tuples, the shape
    of `SplitData.validation()`."""
    check_folds(strategy, folds)
    cells = splits.Cells.from_matrix(train)
    valid_params = split_strategies.validation_params(strategy, params, None)
    out = []
    for fold in range(1, folds):
        labels = split_strategies.assign(cells, strategy, valid_params, fold_seed(split_seed, fold))
        valid_train = cells.to_csr(labels == splits.TRAIN)
        fold_in = bool(np.any(labels == splits.TEST_INPUT))
        history = cells.to_csr(labels == splits.TEST_INPUT) + valid_train if fold_in else valid_train
        out.append((valid_train, cells.to_csr(labels == splits.TEST), history, fold_in))
    return out
