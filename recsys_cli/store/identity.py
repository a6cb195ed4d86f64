"""Which store a runs folder is, and which folders that store made.

`<runs>/.store/store.json` holds the store's id (a random uuid), the runs folder's resolved
path, and `lineage`: this id and the ids of the stores it was copied from. Each folder the
store makes carries a marker written when it is created, `.recsys.json` (`store`: the id,
`kind`: experiment or run, `path`: where it was made, relative to the runs folder); a store
entry carries the id in its `artifact.json`.

A folder is ours when its marker names a store of our lineage and the place it was made is
where it is (a run folder copied beside another is not). A copied runs folder finds on first
use that store.json names another path while the original still holds the same id: it takes
an id of its own, keeping the original's in its lineage, so the runs it holds stay its own
while what the original store registered (the dataset versions its runs read) does not
become the copy's to delete. A runs folder that was moved (nothing at the old path carries
its id any more) keeps its id.

A runs folder made by a recsys from before markers (a `.store` without store.json) is
adopted once: run folders whose manifest is recsys's (run id = folder name, a config.yaml,
the environment block) get markers, and store entries without an id count as ours.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from recsys_cli.core.atomic import read_json, write_json
from recsys_cli.core.locks import held

STORE_DIR = ".store"
IDENTITY = "store.json"
MARKER = ".recsys.json"
EXPERIMENT_PARTS = ("tune",)  # what recsys keeps in an experiment folder besides runs: Optuna studies (stages/tune.py)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class StoreIdentity:
    runs_dir: Path  # resolved
    id: str | None  # None: a runs folder no recsys has written to (nothing is ours yet)
    lineage: tuple[str, ...] = ()
    legacy: bool = False  # adopted from a recsys without markers: entries without an id are ours

    @classmethod
    def open(cls, runs_dir: Path, create: bool = True) -> "StoreIdentity":
        """The identity of the store in `runs_dir`; with `create`, made (or renewed, for a
        copy) and written when needed."""
        runs_dir = Path(runs_dir).resolve()
        path = runs_dir / STORE_DIR / IDENTITY
        info = read_json(path)
        if info is not None and info.get("path") == str(runs_dir) and info.get("id"):
            return cls._from(runs_dir, info)
        if not create:
            return cls._from(runs_dir, info) if info and info.get("id") else cls(runs_dir, None)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / ".identity.lock", "a+") as handle, held(handle):
            info = read_json(path)  # another process may have written it meanwhile
            if info is None or not info.get("id"):
                legacy = (runs_dir / STORE_DIR).is_dir() and _has_legacy_content(runs_dir)
                info = {"id": uuid.uuid4().hex, "lineage": [], "legacy": legacy, "created_at": _now()}
            elif info.get("path") != str(runs_dir) and _is_copy(info):
                info = {**info, "id": uuid.uuid4().hex, "lineage": [info["id"], *info.get("lineage", [])],
                        "copied_from": info.get("path"), "created_at": _now()}
            if info.get("path") != str(runs_dir):
                info["path"] = str(runs_dir)
                write_json(path, info)
            identity = cls._from(runs_dir, info)
            if info.get("legacy") and not info.get("adopted"):
                _adopt_legacy_runs(identity)
                write_json(path, {**info, "adopted": True})
        return identity

    @classmethod
    def _from(cls, runs_dir: Path, info: dict) -> "StoreIdentity":
        lineage = (info["id"], *[i for i in info.get("lineage", []) if isinstance(i, str)])
        return cls(runs_dir, info["id"], lineage, bool(info.get("legacy")))

    # -- markers ----------------------------------------------------------------------------------
    def mark(self, folder: Path, kind: str) -> None:
        """Write the marker of a folder this store is creating (experiment or run)."""
        if self.id is None:
            raise RuntimeError("an identity opened without create cannot mark folders")
        folder = Path(folder)
        relative = folder.name if kind == "experiment" else f"{folder.parent.name}/{folder.name}"
        write_json(Path(folder) / MARKER, {"store": self.id, "kind": kind, "path": relative, "created_at": _now()})

    def owns(self, folder: Path, relative: str, kind: str) -> bool:
        """Whether `folder` carries a marker of this store's lineage for `kind` made at
        `relative` (experiment: "NAME", run: "NAME/RUN-ID")."""
        marker = read_marker(folder)
        return bool(marker and marker.get("store") in self.lineage and marker.get("kind") == kind
                    and marker.get("path") == relative)

    def owns_entry(self, record: dict | None) -> bool:
        if record is None:
            return False
        store = record.get("store")
        return store in self.lineage if store is not None else self.legacy


def read_marker(folder: Path) -> dict | None:
    return read_json(Path(folder) / MARKER)


def is_recsys_folder(folder: Path, relative: str, kind: str) -> bool:
    """Whether `folder` carries any recsys store's marker for `kind` made at `relative`: what
    listing shows (reading follows other stores' folders; deleting never does)."""
    marker = read_marker(folder)
    return bool(marker and marker.get("kind") == kind and marker.get("path") == relative and marker.get("store"))


def _is_copy(info: dict) -> bool:
    """Whether the runs folder store.json names still holds a store with the same id."""
    original = read_json(Path(info.get("path", "")) / STORE_DIR / IDENTITY) if info.get("path") else None
    return bool(original and original.get("id") == info.get("id"))


def _looks_like_recsys_run(folder: Path) -> bool:
    manifest = read_json(folder / "manifest.json")
    return bool(manifest and manifest.get("run_id") == folder.name and isinstance(manifest.get("environment"), dict)
                and "recsys_cli" in manifest["environment"] and (folder / "config.yaml").is_file())


def _legacy_runs(runs_dir: Path):
    for experiment in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()
                             and not p.name.startswith(".")):
        for run in sorted(p for p in experiment.iterdir() if p.is_dir() and not p.is_symlink()
                          and not p.name.startswith(".")):
            if read_marker(run) is None and _looks_like_recsys_run(run):
                yield experiment, run


def _has_legacy_content(runs_dir: Path) -> bool:
    return next(_legacy_runs(runs_dir), None) is not None or any(
        (p / "artifact.json").is_file() for kind in (runs_dir / STORE_DIR).iterdir() if kind.is_dir()
        for p in kind.iterdir() if p.is_dir())


def _adopt_legacy_runs(identity: StoreIdentity) -> None:
    for experiment, run in list(_legacy_runs(identity.runs_dir)):
        with contextlib.suppress(OSError):
            if read_marker(experiment) is None:
                identity.mark(experiment, "experiment")
            identity.mark(run, "run")
