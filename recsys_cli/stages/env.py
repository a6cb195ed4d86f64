"""What every stage of a run reads and none changes — the `StageEnv` — and the stage
bookkeeping that decides whether a stage's artifact already exists (`adopt`), builds and
publishes it once (`timed`) or lets the stage check itself (`always`).

A stage is a function from this environment and typed inputs to a frozen record
(stages/records.py). The one mutable thing a stage touches is the run's manifest, and only
through this bookkeeping, which records each stage's status, fingerprint and timing; the
driver (run.py) owns the run folder and composes the stages.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from recsys_cli.core.atomic import fingerprint
from recsys_cli.core.code_state import code_state
from recsys_cli.store.artifacts import ArtifactStore, artifact_lock


class Reporter:
    """What a stage chain tells its caller; the CLI renders it with rich, scripts ignore it."""

    def stage(self, name: str, seconds: float, skipped: bool) -> None:
        pass

    def progress(self, description: str, total: int):
        """Return a callable `advance(n, description=None)` for a progress bar; the bar
        closes on `done()`."""
        return lambda n, description=None: None

    def done(self) -> None:
        pass

    def message(self, text: str) -> None:
        """A warning: said even under --quiet."""

    def info(self, text: str) -> None:
        """News that needs no action (a source unchanged since the last run): not under --quiet."""

    def detail(self, description: str, done: int, total: int) -> None:
        """Progress within one long step (a model's fit), under the current bar."""

    def end_detail(self) -> None:
        pass


def dataset_items(dataset):
    """items.parquet's table, read on first use. A module function of the (picklable)
    dataset, so tuning trials can build models on Ray workers."""
    return dataset.items


@dataclass(frozen=True)
class StageEnv:
    """One execution of an experiment as the stages see it: its validated config, seeds,
    where it writes, the store, the backend, the dataset version, and the reporter.

    `prefix` is "" for the run's first split and "repeats/<r>/" for the others: the same
    stages, composed again for another split, write under it."""

    experiment: Any  # config.blocks.Experiment, paths absolute
    config: Mapping  # the experiment as plain JSON values (what fingerprints read)
    seeds: Mapping[str, int]
    run: Any  # store.runs.Run: the folder and the manifest the bookkeeping writes
    store: ArtifactStore
    backend: Any
    dataset: Any  # data.dataset.Dataset
    reporter: Reporter
    runs_dir: Path
    jobs: int = 1
    tune_trials: int | None = None  # command-line overrides of every tune block
    tune_timeout: float | None = None
    prefix: str = ""

    def __post_init__(self):
        object.__setattr__(self, "seeds", MappingProxyType(dict(self.seeds)))

    def with_changes(self, **changes) -> "StageEnv":
        return dataclasses.replace(self, **changes)

    @property
    def split_index(self) -> int:
        """0 for the run's first split, r for the split under "repeats/<r>/"."""
        return int(self.prefix.split("/")[1]) if self.prefix else 0

    @property
    def weight_kind(self) -> str:
        return self.dataset.info.get("weight_kind", "implicit")

    # -- stage bookkeeping ------------------------------------------------------------------
    def artifact(self, stage: str, key: str, paths: list[str]) -> tuple[str, str]:
        """The store address of a stage's output: its kind (train, evaluate, export, tune)
        and the fingerprint of its inputs, of where its files live in a run and of the code
        that makes it (after an upgrade, nothing the old code made is reused)."""
        return stage.split("/")[0], fingerprint([key, sorted(paths), code_state()])

    def adopt(self, stage: str, key: str, paths: list[str]) -> bool:
        """True if `stage` with input fingerprint `key` is already done here, or its artifact
        is in the store (then its files are hard-linked in and its record adopted)."""
        kind, address = self.artifact(stage, key, paths)
        unfinished = self.run.manifest["stages"].get(stage, {}).get("unfinished")
        if self.run.stage_done(stage, key) and not unfinished and all((self.run.path / p).exists() for p in paths) \
                and self.store.intact_in(kind, address, self.run.path):
            return True
        stored = self.store.link_into(kind, address, self.run.path)
        for note in self.store.take_notes():  # a damaged artifact was set aside: say it is recomputed
            self.reporter.message(note)
            self.run.log(note)
        if stored is None:
            return False
        self.run.manifest["stages"][stage] = dict(stored["record"], reused_from=stored.get("origin"),
                                                  artifact=f"{kind}/{address}")
        self.run.save()
        return True

    def timed(self, stage: str, key: str, paths: list[str], work: Callable[[dict], None]) -> Mapping:
        """Run `work(record)` as a recorded stage unless its artifact exists; publish what it
        wrote to the store (unless `work` marked its record `unfinished`: a study its time
        budget stopped); report either way. Returns the stage's record (read-only)."""
        kind, address = self.artifact(stage, key, paths)
        with artifact_lock(self.store, kind, address):  # concurrent runs build it once
            if self.adopt(stage, key, paths):
                self.reporter.stage(stage, 0.0, skipped=True)
                self.run.log(f"{stage}: up to date")
                return MappingProxyType(self.run.manifest["stages"][stage])
            started = time.perf_counter()
            with self.run.stage(stage, key) as entry:
                work(entry)
            if entry.get("unfinished"):  # stopped short of its own target: the next run goes on with it
                entry.pop("artifact", None)
            else:
                entry["artifact"] = f"{kind}/{address}"  # where readers of the run find the stored checksums
                self.store.publish(kind, address, self.run.path, [p for p in paths if (self.run.path / p).exists()],
                                   dict(entry), origin=self.run.path.name)
        self.reporter.stage(stage, time.perf_counter() - started, skipped=False)
        self.run.log(f"{stage}: done in {entry['seconds']}s")
        return MappingProxyType(entry)

    def always(self, stage: str, work: Callable[[dict], None]) -> Mapping:
        """Stages that decide for themselves whether they are up to date (by re-hashing)."""
        started = time.perf_counter()
        with self.run.stage(stage, "self-checked") as entry:
            work(entry)
        self.reporter.stage(stage, time.perf_counter() - started, skipped=entry.get("skipped", False))
        return MappingProxyType(entry)

    def dataset_wait(self, dataset_dir: Path):
        return lambda why: self.reporter.message(f"waiting for the dataset folder {dataset_dir} ({why})...")

    # -- what several stages derive from the config -------------------------------------------
    def build_options(self, use_weights: bool) -> dict:
        """build_model's dataset-dependent options: item metadata (read on first use) and, on
        a rated dataset, whether the entry's model learns from interactions or the values."""
        import functools

        return {"items": functools.partial(dataset_items, self.dataset), "rated": self.weight_kind == "rating",
                "use_weights": use_weights}

    def build_model(self, spec):
        """The model of a `ModelSpec`, built the one way (models.registry.build_model)."""
        from recsys_cli.models.registry import build_model

        return build_model(spec.type, spec.params, seed=self.experiment.seed, threads=self.experiment.threads,
                           **self.build_options(spec.use_weights))

    def filter_seen(self, entry) -> bool:
        return self.experiment.metrics.filter_seen if entry.filter_seen is None else entry.filter_seen

    def headline_metric(self) -> str:
        metrics = self.experiment.metrics
        return f"{metrics.names[0]}@{max(metrics.k)}"
