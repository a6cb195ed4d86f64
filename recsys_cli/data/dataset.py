"""Reading a dataset folder written by `data/build.py`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl

from recsys_cli.core.errors import InputError

DATASET_FILES = ("dataset.json", "events.parquet", "matrix.npz", "users.parquet", "items.parquet")


@dataclass
class Dataset:
    path: Path

    @classmethod
    def open(cls, path: str | Path) -> "Dataset":
        path = Path(path)
        if not path.is_dir():
            raise InputError("no such dataset folder (make one with `recsys ingest`)", path=path)
        missing = [name for name in DATASET_FILES if not (path / name).is_file()]
        if missing:
            raise InputError(
                f"not a dataset folder: missing {', '.join(missing)} (make one with `recsys ingest`)",
                path=path,
            )
        return cls(path.resolve())  # one stored version, whatever the name points at later

    @cached_property
    def info(self) -> dict:
        try:
            info = json.loads((self.path / "dataset.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InputError(f"dataset.json is not valid JSON ({error})", path=self.path) from error
        if not isinstance(info, dict) or not isinstance(info.get("fingerprint"), str) or not isinstance(
                info.get("counts"), dict):
            raise InputError("dataset.json lacks its fingerprint or counts; re-ingest the dataset", path=self.path)
        return info

    @property
    def fingerprint(self) -> str:
        return self.info["fingerprint"]

    @cached_property
    def matrix(self):
        from recsys_cli.data.csr_file import read_sparse

        matrix = read_sparse(self.path / "matrix.npz")
        if matrix.shape != self.shape:
            raise InputError(f"matrix.npz is {matrix.shape[0]} x {matrix.shape[1]} but dataset.json says "
                             f"{self.shape[0]} x {self.shape[1]}; re-ingest the dataset", path=self.path)
        return matrix

    @property
    def shape(self) -> tuple[int, int]:
        counts = self.info["counts"]
        return counts["users"], counts["items"]

    def events(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "events.parquet")

    def scan_events(self) -> pl.LazyFrame:
        """A lazy scan of events.parquet, for logs that do not fit in memory."""
        return pl.scan_parquet(self.path / "events.parquet")

    @cached_property
    def items(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "items.parquet")

    @cached_property
    def users(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "users.parquet")
