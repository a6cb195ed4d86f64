"""Run folders: `runs/<experiment>/<run-id>/` with a manifest, a lock, resume and `latest`.

- The manifest records versions, seed, threads, the config fingerprint and, per stage, its
  status, input fingerprint and timing. It is rewritten atomically after every stage, so a
  crash or Ctrl-C leaves the run marked incomplete with every finished stage recorded.
- A second `run` of the same config resumes the newest incomplete run folder: finished stages
  whose fingerprints still match are skipped.
- `runs/<experiment>/.lock` (an fcntl lock, released by the OS if the process dies) keeps two
  runs of one experiment — two cron jobs — from writing at once.
- `runs/<experiment>/latest` is a symlink to the last complete run, swapped atomically.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from recsys_cli import __version__
from recsys_cli.core import interrupts
from recsys_cli.core.atomic import read_json, write_json
from recsys_cli.core.errors import DamagedFile, InputError
from recsys_cli.core.locks import held, write_holder


STATUS_ORDER = {"train done": 0, "evaluate done": 1, "complete": 2}


class RunLocked(Exception):
    """Another process holds the experiment's lock (exit code 1 under --no-wait)."""


@contextlib.contextmanager
def experiment_lock(folder: Path, wait: bool, on_wait=None) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        def busy() -> None:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            if not wait:
                raise RunLocked(f"another run of this experiment is in progress ({holder}); "
                                f"lock: {folder / '.lock'}") from None
            if on_wait:
                on_wait(holder)

        with held(handle, on_busy=busy):
            write_holder(handle, f"pid {os.getpid()} since {_now()}")
            yield


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("numpy", "scipy", "polars", "implicit", "optuna", "pydantic"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            pass
    return {"recsys_cli": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count(), "packages": packages}


class Run:
    """One run folder and its manifest."""

    def __init__(self, path: Path, manifest: dict):
        self.path = path
        self.manifest = manifest

    @classmethod
    def open_or_resume(cls, runs_dir: Path, name: str, config_fingerprint: str, seed: int, threads: int) -> "Run":
        from recsys_cli.core.trash import finish_removals
        from recsys_cli.store.identity import STORE_DIR, StoreIdentity, read_marker

        identity = StoreIdentity.open(runs_dir, create=True)
        finish_removals(Path(runs_dir) / STORE_DIR)  # what a killed prune had set aside
        experiment = runs_dir / name
        if read_marker(experiment) is None:
            identity.mark(experiment, "experiment")
        for candidate in sorted((p for p in experiment.iterdir() if p.is_dir() and not p.is_symlink()
                                 and not p.name.startswith(".")), reverse=True):
            if not identity.owns(candidate, f"{name}/{candidate.name}", "run"):
                continue  # not a run of this store: never resumed, never written into
            manifest = read_json(candidate / "manifest.json")
            if manifest is None:
                continue
            if manifest.get("status") != "complete" and manifest.get("config_fingerprint") == config_fingerprint:
                manifest["status"] = "running"
                manifest["resumed_at"] = manifest.get("resumed_at", []) + [_now()]
                run = cls(candidate, manifest)
                run.save()
                return run
            break  # only the newest run folder may be resumed
        run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = experiment / run_id
        suffix = 1
        while path.exists():
            suffix += 1
            path = experiment / f"{run_id}-{suffix}"
        path.mkdir(parents=True)
        identity.mark(path, "run")  # before anything else: the folder is this store's from the start
        run = cls(path, {
            "name": name, "run_id": path.name, "status": "running", "started_at": _now(),
            "config_fingerprint": config_fingerprint, "seed": seed, "threads": threads,
            "environment": environment(), "stages": {},
        })
        run.save()
        return run

    def save(self) -> None:
        write_json(self.path / "manifest.json", self.manifest)

    def stage_done(self, stage: str, fingerprint: str) -> bool:
        entry = self.manifest["stages"].get(stage)
        return bool(entry and entry.get("status") == "done" and entry.get("fingerprint") == fingerprint)

    @contextlib.contextmanager
    def stage(self, stage: str, fingerprint: str, **details) -> Iterator[dict]:
        """Record a stage's status and timing around its work; failures are recorded too.
        A Ctrl-C that Python dropped during an earlier stage stops the run here."""
        if interrupts.pending() is not None:
            raise interrupts.pending()
        entry = {"status": "running", "fingerprint": fingerprint, "started_at": _now(), **details}
        self.manifest["stages"][stage] = entry
        self.save()
        started = time.perf_counter()
        try:
            yield entry
        except BaseException as error:
            entry["status"] = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            entry["error"] = f"{type(error).__name__}: {error}"
            entry["seconds"] = round(time.perf_counter() - started, 3)
            self.manifest["status"] = entry["status"]
            self.save()
            raise
        entry["status"] = "done"
        entry["seconds"] = round(time.perf_counter() - started, 3)
        self.save()

    def has_finished_stage(self) -> bool:
        return any(entry.get("status") == "done" for entry in self.manifest["stages"].values())

    def discard(self) -> None:
        """Remove a run folder that holds nothing (a config that failed before any stage)."""
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)

    def reached(self, status: str) -> None:
        """Record that the run got as far as `status` ('train done', 'evaluate done'),
        never lowering a status it already had: `evaluate` then `train` of one config keeps
        'evaluate done'."""
        furthest = self.manifest.get("reached")
        if STATUS_ORDER.get(furthest, -1) < STATUS_ORDER[status]:
            furthest = status
        self.manifest["reached"] = self.manifest["status"] = furthest
        self.save()

    def log(self, message: str) -> None:
        with open(self.path / "log.txt", "a", encoding="utf-8") as handle:
            handle.write(f"{_now()} {message}\n")

    def complete(self) -> None:
        self.manifest["status"] = self.manifest["reached"] = "complete"
        self.manifest["finished_at"] = _now()
        self.save()
        latest = self.path.parent / "latest"
        tmp = self.path.parent / f".latest-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(self.path.name)
        os.replace(tmp, latest)


def resolve_run_dir(path: Path) -> Path:
    """A run folder, or an experiment folder (runs/NAME) whose `latest` is taken."""
    path = Path(path)
    if not (path / "manifest.json").exists() and (path / "latest" / "manifest.json").exists():
        path = (path / "latest").resolve()
    if not (path / "manifest.json").is_file():
        raise InputError("not a run folder (no manifest.json); give runs/<experiment>/<run-id> or runs/<experiment>",
                         path=path)
    check_manifest(path)
    return path


def check_manifest(run_path: Path) -> dict:
    """The run's manifest, or DamagedFile (exit 2) naming it when it cannot be read."""
    manifest = read_json(Path(run_path) / "manifest.json")
    if manifest is None or not isinstance(manifest.get("stages", {}), dict):
        raise DamagedFile(Path(run_path) / "manifest.json", f"the manifest of run {Path(run_path).name}",
                          "truncated, empty or not a JSON object",
                          f"check it with `recsys runs verify {run_path}`; the run's files are still there, "
                          "re-run its experiment to make a new run")
    return manifest


def read_run_record(run_path: Path, name: str) -> dict | None:
    """A run's metrics.json (or another JSON record): None when it is not there, DamagedFile
    (exit 2) naming it when it cannot be read."""
    path = Path(run_path) / name
    if not path.exists():
        return None
    payload = read_json(path)
    if payload is None:
        raise DamagedFile(path, f"{name} of run {Path(run_path).name}", "truncated, empty or not a JSON object",
                          f"check the run with `recsys runs verify {run_path}`; re-run its experiment to write it again")
    return payload


def read_run_config(run_path: Path) -> dict:
    """A run's resolved config.yaml ({} when it has none), DamagedFile when it cannot be read."""
    import yaml

    path = Path(run_path) / "config.yaml"
    if not path.exists():
        return {}
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise DamagedFile(path, f"the config of run {Path(run_path).name}", type(error).__name__,
                          f"check the run with `recsys runs verify {run_path}`") from error
    if not isinstance(config, dict):
        raise DamagedFile(path, f"the config of run {Path(run_path).name}", "not a mapping",
                          f"check the run with `recsys runs verify {run_path}`")
    return config


def trained_models(run_path: Path, manifest: dict) -> dict[str, str]:
    """Model name -> model type of every model the run finished training."""
    trained = {}
    for stage, entry in manifest.get("stages", {}).items():
        if stage.startswith("train/") and isinstance(entry, dict) and entry.get("status") == "done":
            if not isinstance(entry.get("type"), str):
                raise DamagedFile(Path(run_path) / "manifest.json", f"the manifest of run {Path(run_path).name}",
                                  f"stage {stage} names no model type", f"check it with `recsys runs verify {run_path}`")
            trained[stage.split("/", 1)[1]] = entry["type"]
    return trained


def check_model_files(run_path: Path, manifest: dict, model: str) -> bool:
    """DamagedFile (exit 2) when a saved model's files in a run folder differ from the
    checksums its store recorded; whether there were checksums to compare with (a run outside
    a runs folder has none)."""
    from recsys_cli.store.artifacts import ArtifactStore
    from recsys_cli.store.identity import STORE_DIR

    run_path = Path(run_path)
    entry = manifest.get("stages", {}).get(f"train/{model}", {})
    store_root = run_path.parent.parent / STORE_DIR
    if not isinstance(entry, dict) or not isinstance(entry.get("artifact"), str) or not store_root.is_dir():
        return False
    damage = ArtifactStore(store_root).damaged_in(run_path, entry["artifact"])
    if damage is None:
        return False
    if damage:
        raise DamagedFile(damage[0].path, f"the saved model {model!r} of run {run_path.parent.name}/{run_path.name}",
                          damage[0].reason, f"check the run with `recsys runs verify {run_path}`; re-running its "
                          "experiment trains the model again (the damaged stored copy is set aside)")
    return True
