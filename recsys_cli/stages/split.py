"""The split stage: a dataset folder -> a split folder (train/test CSR files, optional
validation carved from train, split.json with the fingerprint of everything that made it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys_cli.core.atomic import atomic_directory, file_sha256, fingerprint, read_json, write_json, write_npz
from recsys_cli.data.split_folder import SplitData, load_split
from recsys_cli.core.errors import InputError
from recsys_cli.core.seeds import DEFAULT_SEED, validation_seed
from recsys_cli.stages.env import StageEnv
from recsys_cli.stages.records import StageResult


def split(
    dataset_dir: Path,
    strategy: str,
    out: Path | None = None,
    params: dict | None = None,
    seed: int = DEFAULT_SEED,
    validation: bool = False,
    force: bool = False,
) -> StageResult:
    """Split a dataset into train/test (and validation) CSR files, in the folder under the
    dataset version named by the parameters (`split_folder`), reading the dataset under
    its shared lock. `out`, when given, is the user's name for that folder: a link to it
    (it must be missing, empty, a split folder or our link)."""
    from recsys_cli.core.atomic import check_output_folder, replace_with_link
    from recsys_cli.data.dataset_lock import dataset_lock
    from recsys_cli.data.split_strategies import strategy as check_strategy

    from recsys_cli.data.dataset import Dataset

    check_strategy(strategy)  # before any data is read
    dataset = Dataset.open(dataset_dir)
    params = {k: v for k, v in (params or {}).items() if v is not None}
    folder = split_folder(dataset.path, strategy, params, seed, validation)
    named = out is not None and Path(out).resolve() != folder  # not the folder itself, nor a link to it
    if named:
        check_output_folder(out, "split.json", [dataset_dir])
    with dataset_lock(dataset.path, exclusive=False):
        result = _split_locked(dataset.path, strategy, folder, params, seed, validation, force)
    if not named:
        return result
    replace_with_link(out, folder)
    return StageResult(folder, result.info, result.skipped, name=Path(out))


def _split_locked(dataset_dir, strategy, out, params, seed, validation, force) -> StageResult:
    from recsys_cli.data import split_strategies, splits
    from recsys_cli.data.dataset import Dataset

    dataset = Dataset.open(dataset_dir)
    # 2: validation on every user; 3 (user folds only): their validation is not itself a fold
    version = 3 if validation and "folds" in params else 2
    key = fingerprint({"dataset": dataset.fingerprint, "strategy": strategy, "params": params,
                       "seed": seed, "validation": validation, "version": version})
    previous = read_json(out / "split.json")
    if not force and previous is not None and previous.get("fingerprint") == key:
        return StageResult(out, previous, skipped=True)

    events = dataset.scan_events() if strategy in split_strategies.time_strategies() else None
    cells = splits.Cells.from_matrix(dataset.matrix, events)
    labels = split_strategies.assign(cells, strategy, params, seed)
    if not (labels == splits.TRAIN).any():
        raise InputError(f"strategy {strategy!r} with {params or 'its defaults'} leaves train empty "
                         "(every interaction went to test); choose a later cut-off or a smaller share",
                         path=dataset.path)
    parts = {splits.PART_FILES[code]: cells.to_csr(labels == code) for code in np.unique(labels)}
    parts.setdefault("test", cells.to_csr(np.zeros(len(labels), dtype=bool)))
    if validation:
        train_cells = cells.subset(labels == splits.TRAIN)
        valid_params = split_strategies.validation_params(strategy, params, labels)
        valid_labels = split_strategies.assign(train_cells, strategy, valid_params, validation_seed(seed))
        for code in np.unique(valid_labels):
            parts[splits.VALIDATION_FILES[code]] = train_cells.to_csr(valid_labels == code)

    with atomic_directory(out, "split.json", sources=[dataset.path]) as tmp:
        for name, matrix in parts.items():
            write_npz(tmp / f"{name}.npz", matrix)
        info = {
            "strategy": strategy,
            "params": {**split_strategies.strategy_params(strategy), **params},
            "seed": seed,
            "validation": validation,
            **({"validation_params": valid_params} if validation else {}),
            "validation_seed": validation_seed(seed) if validation else None,
            **split_strategies.notes(cells, strategy, params),
            "dataset": {"path": str(dataset.path), "fingerprint": dataset.fingerprint},
            "fingerprint": key,
            "shape": list(cells.shape),
            "parts": {
                name: {
                    "interactions": int(matrix.nnz),
                    "users": int(np.count_nonzero(np.diff(matrix.indptr))),
                    "sha256": file_sha256(tmp / f"{name}.npz"),
                }
                for name, matrix in parts.items()
            },
        }
        write_json(tmp / "split.json", info)
    return StageResult(out, info, skipped=False)


def split_for_run(env: StageEnv, dataset_dir: Path, repeat: int = 0, validation: bool = False) -> SplitData:
    """The run's split number `repeat` (the config's `split.path`, or a folder under the
    dataset named by the fingerprint of its parameters), loaded. `validation`: carve a
    validation part even when the config does not ask (tuning needs one)."""
    block = env.experiment.split
    if block.path is not None:
        return load_split(block.path, env.dataset)
    params, seed = block.repeat(repeat, env.seeds["split"])
    validation = block.validation or validation
    folder = split_folder(dataset_dir, block.strategy, params, seed, validation)

    def work(entry):
        result = split(dataset_dir, block.strategy, None, params, seed=seed, validation=validation)
        entry.update(path=str(result.path), skipped=result.skipped)

    env.always(f"{env.prefix}split", work)
    return load_split(folder, env.dataset)


def split_folder(dataset_dir: Path, strategy: str, params: dict, seed: int, validation: bool) -> Path:
    """Where a split of these parameters lives in its dataset version: named by what
    defines it, so `recsys split` and `recsys run` with the same protocol share one folder,
    and a split with other parameters (or without `validation`) never overwrites it."""
    from recsys_cli.core.atomic import fingerprint as fp

    given = {k: v for k, v in params.items() if v is not None}
    return Path(dataset_dir) / "splits" / f"{strategy}-{fp([given, seed, validation])[:8]}"
