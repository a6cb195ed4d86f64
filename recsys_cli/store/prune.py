"""`recsys runs prune`: old run folders, the store artifacts no kept run links to, and the
dataset versions no kept run reads go — and only what this store made.

- The runs folder must be given as itself: through a symbolic link prune refuses (a link is
  followed for reading, never deleted through).
- Every experiment folder prune looks at, and every folder in it, must carry this store's
  marker (store/identity.py); a store entry must carry its id. Anything else — a folder of
  someone else's that holds a manifest.json, an experiment folder that is a link, a run
  copied from another place — makes prune refuse (exit 2) naming each one, before anything is
  removed.
- Just before a folder is removed it is checked again: a real folder (no link on the way),
  resolved inside the runs folder, with this store's marker.
- A dataset version goes only when this store is the only one that registered reading it
  (data/dataset_store.py): a copy of a runs folder never deletes the original's versions.
- Removal is a rename into the store's trash, then a delete (core/trash.py): a prune killed
  half way leaves whole runs in place or nothing of them, and the next command finishes.
Run folders hard-link artifact files, so a kept run's bytes can never be freed from under it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from recsys_cli.core.atomic import read_json
from recsys_cli.core.errors import InputError
from recsys_cli.core.locks import held
from recsys_cli.core.trash import empty, finish_removals, new_trash, set_aside
from recsys_cli.store.artifacts import CHARTS_DIR, DAMAGED_DIR, RECORD, ArtifactStore, tree_bytes
from recsys_cli.store.history import RunRecord, check_experiment, check_name, experiment_runs
from recsys_cli.store.identity import EXPERIMENT_PARTS, STORE_DIR, StoreIdentity


@dataclass
class PrunePlan:
    runs: list[RunRecord]
    artifacts: list[Path]
    datasets: list[Path]  # stored dataset versions no kept run and no name uses
    bytes_freed: int
    identity: StoreIdentity | None = None
    busy: list[RunRecord] = field(default_factory=list)  # left: their experiment was running

    def as_dict(self) -> dict:
        return {"runs": [str(r.path) for r in self.runs], "artifacts": [str(p) for p in self.artifacts],
                "datasets": [str(p) for p in self.datasets], "bytes_freed": self.bytes_freed,
                "left_busy": [str(r.path) for r in self.busy]}


def open_for_prune(runs_dir: Path) -> StoreIdentity:
    """The store prune may delete from: the runs folder itself, never through a link. Whatever
    a killed prune had set aside is deleted first."""
    given = Path(runs_dir)
    if given.is_symlink():
        raise InputError(f"is a symbolic link (to {given.resolve()}); prune never deletes through a link: "
                         "give the runs folder itself", path=given)
    if not given.is_dir():
        raise InputError("no such runs folder", path=given)
    identity = StoreIdentity.open(given, create=True)
    finish_removals(identity.runs_dir / STORE_DIR)
    return identity


def plan_prune(runs_dir: Path, name: str | None, keep_last: int | None, newer_than: str | None) -> PrunePlan:
    """Which run folders go (older than the last `keep_last` of each experiment and not newer
    than `newer_than`; never one a link in its experiment folder points at — `latest` — nor a
    running one) and which store artifacts then have no run left that links to them, with the
    bytes that frees (each inode once)."""
    if keep_last is None and newer_than is None:
        raise InputError("say what to keep: --keep N (the last N runs) and/or --newer-than DATE")
    if newer_than is not None:
        try:
            datetime.fromisoformat(newer_than)
        except ValueError:
            raise InputError(f"--newer-than {newer_than!r}: expected a date like 2026-11-30 or 2026-11-30T12:00") from None
    if name is not None:
        check_name(name)
    identity = open_for_prune(runs_dir)
    root = identity.runs_dir
    store = ArtifactStore(root / STORE_DIR)
    experiments = [name] if name else _experiment_folders(root)
    if name is not None and not ((root / name).is_dir() or (root / name).is_symlink()):
        check_experiment(root, name)  # no such experiment: says which there are
    _refuse_what_is_not_ours(root, identity, store, experiments)
    every = experiment_runs(root)  # all experiments: any kept run keeps its dataset version
    doomed = []
    for experiment in experiments:
        records = [r for r in every if r.path.parent == root / experiment]
        protected = _linked_runs(root / experiment)
        kept_by_count = {r.run_id for r in records[-keep_last:]} if keep_last else set()
        for record in records:
            keep = record.run_id in kept_by_count or record.path in protected or record.status == "running"
            if newer_than is not None and record.started_at[:len(newer_than)] >= newer_than:
                keep = True
            if not keep:
                doomed.append(record)
    artifacts, freed = _unlinked_artifacts(store, doomed, [r for r in every if r not in doomed])
    datasets = _unused_datasets(every, doomed, identity.id)
    return PrunePlan(doomed, artifacts, datasets, freed + sum(tree_bytes(p) for p in datasets), identity)


def _experiment_folders(root: Path) -> list[str]:
    """Every folder (or link to one) at the top of the runs folder but the store."""
    return sorted(p.name for p in root.iterdir() if p.name != STORE_DIR and not p.name.startswith(".")
                  and (p.is_dir() or p.is_symlink()))


def _refuse_what_is_not_ours(root: Path, identity: StoreIdentity, store: ArtifactStore, experiments: list[str]) -> None:
    problems = []
    for experiment in experiments:
        folder = root / experiment
        if folder.is_symlink():
            problems.append(f"{folder}: a symbolic link to {folder.resolve()}; prune never deletes through a link "
                            "(prune the other experiments by name, or the runs folder it points into)")
        elif not folder.is_dir():
            problems.append(f"{folder}: not a folder")
        elif not identity.owns(folder, experiment, "experiment"):
            problems.append(f"{folder}: not an experiment folder this store made (no marker of it)")
        else:
            problems += [f"{child}: not a run folder this store made at this place (no marker of it)"
                         for child in sorted(folder.iterdir())
                         if child.is_dir() and not child.is_symlink() and not child.name.startswith(".")
                         and child.name not in EXPERIMENT_PARTS
                         and not identity.owns(child, f"{experiment}/{child.name}", "run")]
    for kind, key, path in store.entries():
        record = read_json(path / RECORD)
        if record is None or record.get("kind") != kind or record.get("key") != key or not identity.owns_entry(record):
            problems.append(f"{path}: not an artifact this store made (artifact.json unreadable or of another store; "
                            "see `recsys runs verify --all`)")
    if problems:
        raise InputError("refusing to prune, nothing was removed: the runs folder holds what this store did not make "
                         "(move it out of the runs folder, or prune experiments by name):\n  " + "\n  ".join(problems),
                         path=root)


def _linked_runs(experiment: Path) -> set[Path]:
    """Run folders a link in the experiment folder points at (`latest`, `passed`)."""
    return {p.resolve() for p in experiment.iterdir() if p.is_symlink()} if experiment.is_dir() else set()


def _inodes(paths):
    for root in paths:
        for f in [root] if root.is_file() else root.rglob("*"):
            if f.is_file() and not f.is_symlink():
                yield f.stat()


def _used_by(runs: list[RunRecord]) -> set[str]:
    """The store addresses ("kind/key") the runs' manifests name: a record-only artifact (the
    significance test, a compare block) has no file a run links, only this."""
    return {entry["artifact"] for run in runs for entry in run.manifest.get("stages", {}).values()
            if isinstance(entry, dict) and isinstance(entry.get("artifact"), str)}


def _unlinked_artifacts(store: ArtifactStore, doomed: list[RunRecord],
                        kept: list[RunRecord]) -> tuple[list[Path], int]:
    used = _used_by(kept)
    removed_links: dict[tuple[int, int], list] = {}
    for info in _inodes([r.path for r in doomed]):
        removed_links.setdefault((info.st_dev, info.st_ino), [0, info.st_nlink, info.st_size])[0] += 1
    artifacts = []
    damaged = store.root / DAMAGED_DIR  # artifacts the store found damaged and set aside
    found_damaged = sorted(p for p in damaged.iterdir() if p.is_dir() and not p.is_symlink()) \
        if damaged.is_dir() and not damaged.is_symlink() else []
    stored = [path for kind, key, path in store.entries() if f"{kind}/{key}" not in used]
    for path in stored + found_damaged:
        files = list(_inodes([path]))
        # An artifact goes when every link to each of its files is in it or in a doomed run.
        if all(removed_links.get((f.st_dev, f.st_ino), [0])[0] + 1 >= f.st_nlink for f in files):
            artifacts.append(path)
            for f in files:
                removed_links.setdefault((f.st_dev, f.st_ino), [0, f.st_nlink, f.st_size])[0] += 1
    artifacts += [path for _, _, path, _ in store.unreferenced() if ".tmp-" in path.name]
    freed = sum(size for count, links, size in removed_links.values() if count >= links)
    charts = store.root / CHARTS_DIR  # a cache of drawn charts (report/html/chart_cache.py)
    if charts.is_dir() and not charts.is_symlink():
        artifacts.append(charts)
        freed += tree_bytes(charts)
    return artifacts, freed


def _unused_datasets(every: list[RunRecord], doomed: list[RunRecord], reader: str | None) -> list[Path]:
    """Dataset versions in the stores the runs read from that only doomed runs (or no run)
    read, that no dataset name points at, and that no other store registered reading."""
    from recsys_cli.data.dataset_store import unused_versions

    gone = {r.path for r in doomed}
    every = [r for r in every if r.dataset is not None]
    return unused_versions(seen=[r.dataset for r in every], used=[r.dataset for r in every if r.path not in gone],
                           reader=reader)


# -- removing --------------------------------------------------------------------------------------
class _Busy(Exception):
    pass


@contextlib.contextmanager
def _unless_running(experiment: Path) -> Iterator[bool]:
    """Hold the experiment's lock if no run holds it: yields False when one does."""
    def give_up():
        raise _Busy

    try:
        with open(experiment / ".lock", "a+") as handle, held(handle, on_busy=give_up):
            yield True
    except _Busy:
        yield False


def _removable(path: Path, inside: Path, identity: StoreIdentity, relative: str | None) -> None:
    """Refuse (InputError) to remove `path` unless it is a real folder, no link on the way,
    resolved inside `inside`, and (for a run) carrying this store's marker at that place."""
    if path.is_symlink() or path.resolve() != path or inside not in path.parents:
        raise InputError(f"resolves outside {inside} or through a symbolic link; left alone", path=path)
    if relative is not None and not (identity.owns(path, relative, "run")
                                     and identity.owns(path.parent, path.parent.name, "experiment")):
        raise InputError("is no longer a run folder this store made; left alone", path=path)


def apply_prune(plan: PrunePlan) -> None:
    """Remove the plan's runs, artifacts and dataset versions, each set aside into the trash
    first. Runs of an experiment that is running now are left (`plan.busy`); an artifact a
    run linked since the plan, and a version a run reads at this moment, are left too (and
    dropped from the plan)."""
    from recsys_cli.data.dataset_store import remove_if_idle

    identity = plan.identity
    root = identity.runs_dir
    store_root = root / STORE_DIR
    trash = new_trash(store_root)
    try:
        by_experiment: dict[Path, list[RunRecord]] = {}
        for record in plan.runs:
            by_experiment.setdefault(record.path.parent, []).append(record)
        for experiment, records in by_experiment.items():
            with _unless_running(experiment) as free:
                if not free:
                    plan.busy += records
                    continue
                for record in records:
                    _removable(record.path, root, identity, f"{experiment.name}/{record.run_id}")
                    set_aside(record.path, trash)
        plan.runs = [r for r in plan.runs if r not in plan.busy]
        empty(trash)
        trash = new_trash(store_root)
        store = ArtifactStore(store_root)
        kept = []
        for path in plan.artifacts:
            _removable(path, store_root, identity, None)
            if path.name != CHARTS_DIR and ".tmp-" not in path.name and not _unlinked_now(path):
                continue  # a run linked it since the plan was made
            set_aside(path, trash)
            store._sessions.forget(f"{path.parent.name}-{path.name}")
            kept.append(path)
        plan.artifacts = kept
        empty(trash)
    finally:
        empty(trash)
    read_by_busy = {r.dataset.resolve() for r in plan.busy if r.dataset is not None}
    plan.datasets = [path for path in plan.datasets if path.resolve() not in read_by_busy
                     and remove_if_idle(path, identity.id)]


def _unlinked_now(path: Path) -> bool:
    return all(f.stat().st_nlink <= 1 for f in path.rglob("*") if f.is_file() and not f.is_symlink()
               and f.name != RECORD)
