"""Reading a split folder written by `recsys split`, checked against the dataset it splits.

A split is only meaningful with the dataset it was cut from: its row and column indices are
that dataset's users and items. `load_split` refuses a split whose `split.json` names
another dataset fingerprint or shape, and every part is checked on read (full CSR check,
shape, and the sha256 recorded in split.json), so a replaced or damaged part never computes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recsys_cli.core.errors import InputError


class SplitData:
    """A split folder whose parts are read on first use, through `read_part` alone, so a
    stage touches only what it needs (tuning never opens test.npz)."""

    def __init__(self, path: Path, info: dict):
        self.path = path
        self.info = info
        self._parts: dict = {}

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.info["shape"])

    def read_part(self, name: str):
        from recsys_cli.core.atomic import file_sha256
        from recsys_cli.data.csr_file import read_sparse

        if name not in self._parts:
            path = self.path / f"{name}.npz"
            recorded = self.info.get("parts", {}).get(name, {}).get("sha256")
            if recorded is not None and path.is_file() and file_sha256(path) != recorded:
                raise InputError("the file differs from the one split.json records (sha256); "
                                 "re-run the split", path=path)
            matrix = read_sparse(path)
            if matrix.shape != self.shape:
                raise InputError(f"is {matrix.shape[0]} x {matrix.shape[1]} but split.json says "
                                 f"{self.shape[0]} x {self.shape[1]}; re-run the split", path=path)
            self._parts[name] = matrix
        return self._parts[name]

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.npz").exists()

    @property
    def train(self):
        return self.read_part("train")

    @property
    def test(self):
        test = self.read_part("test")
        if test.nnz == 0:
            raise InputError("the split's test part is empty: nothing to evaluate", path=self.path / "test.npz")
        return test

    @property
    def fold_in(self) -> bool:
        """user-holdout: test users are absent from train; their history is test_input."""
        return self.has("test_input")

    def _history(self, train_part: str, input_part: str):
        """Where users' seen items come from: train, plus the fold-in part of a user-holdout
        split. Composed once per pair of parts."""
        key = f"{train_part}+{input_part}"
        if key not in self._parts:
            train = self.read_part(train_part)
            self._parts[key] = self.read_part(input_part) + train if self.has(input_part) else train
        return self._parts[key]

    @property
    def history(self):
        return self._history("train", "test_input")

    @property
    def test_users(self) -> np.ndarray:
        return np.flatnonzero(np.diff(self.test.indptr)).astype(np.int32)

    def validation(self) -> tuple:
        """(valid_train, valid, history, fold_in) for tuning."""
        if not (self.has("valid_train") and self.has("valid")):
            raise InputError("the split has no validation part (valid_train.npz, valid.npz); "
                             "split with `validation: true`", path=self.path)
        history = self._history("valid_train", "valid_input")
        return self.read_part("valid_train"), self.read_part("valid"), history, self.has("valid_input")


def read_split_info(folder: Path) -> dict:
    folder = Path(folder)
    path = folder / "split.json"
    if not path.is_file():
        raise InputError("not a split folder (no split.json); make one with `recsys split`", path=folder)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise InputError(f"split.json is not readable JSON ({error})", path=folder) from error
    if not (isinstance(info, dict) and isinstance(info.get("dataset"), dict) and isinstance(info.get("shape"), list)
            and isinstance(info.get("fingerprint"), str)):
        raise InputError("split.json lacks its dataset, shape or fingerprint; re-run the split", path=folder)
    return info


def load_split(folder: Path, dataset=None) -> SplitData:
    """The split in `folder`; with `dataset` (a `Dataset`), refused unless it was cut from it."""
    folder = Path(folder)
    info = read_split_info(folder)
    if dataset is not None:
        check_split_matches(info, folder, dataset.fingerprint, dataset.shape, dataset.path)
    return SplitData(folder, info)


def check_split_matches(info: dict, folder: Path, fingerprint: str, shape: tuple[int, int], dataset_path) -> None:
    recorded = info["dataset"].get("fingerprint")
    if recorded != fingerprint:
        raise InputError(f"this split was made from another dataset (fingerprint {recorded}, made from "
                         f"{info['dataset'].get('path')}); {dataset_path} has fingerprint {fingerprint}. "
                         "Split this dataset again, or point the config at the dataset the split came from",
                         path=folder)
    if tuple(info["shape"]) != tuple(shape):
        raise InputError(f"split shape {tuple(info['shape'])} differs from the dataset's {tuple(shape)} "
                         f"({dataset_path}); split the dataset again", path=folder)
