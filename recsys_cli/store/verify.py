"""`recsys runs verify [RUN | --all]`: an fsck of the store. Every file is hashed in full and
compared with what was recorded when it was stored; nothing is changed (the next run sets a
damaged object aside and recomputes it).

- A run: its marker, manifest.json, metrics.json and config.yaml are readable; each file it
  shares with the store (a hard link) has the content the store recorded; each stored
  artifact its manifest names is intact; the dataset version it read is intact.
- `--all`: every run of every experiment, every artifact of the store, and every dataset
  version in the dataset stores the runs read from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recsys_cli.core.atomic import file_sha256, read_json
from recsys_cli.core.integrity import Damage
from recsys_cli.store.artifacts import DAMAGED_DIR, RECORD, ArtifactStore
from recsys_cli.store.history import RunRecord, experiment_runs, read_run
from recsys_cli.store.identity import STORE_DIR, read_marker


@dataclass
class Verification:
    checked: list[str] = field(default_factory=list)  # what was checked, one line each
    damage: list[Damage] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"checked": self.checked, "damaged": [{"path": str(d.path), "reason": d.reason} for d in self.damage],
                "ok": not self.damage}


def verify(runs_dir: Path, run: RunRecord | None) -> Verification:
    runs_dir = Path(runs_dir).resolve()
    store = ArtifactStore(runs_dir / STORE_DIR)
    result = Verification()
    records = [run] if run is not None else experiment_runs(runs_dir)
    entries = {(kind, key): path for kind, key, path in store.entries()}
    wanted = set(entries) if run is None else _artifacts_of(run, store)
    stored = {}
    for kind, key in sorted(wanted):
        record = read_json(store.path(kind, key) / RECORD) if (kind, key) in entries else None
        problem = store.record_problem(record, kind, key) if (kind, key) in entries else "missing from the store"
        result.checked.append(f"artifact {kind}/{key}")
        if problem is not None:
            result.damage.append(Damage(store.path(kind, key) / RECORD, problem))
            continue
        stored[(kind, key)] = record
        result.damage += store.check(kind, key, record, full=True)
    folders = [(store.path(kind, key), record) for (kind, key), record in stored.items()]
    by_inode = _stored_files(folders + _set_aside(store))
    for record in records:
        result.checked.append(f"run {record.path}")
        result.damage += _run_files(record, by_inode)
    result.damage += _datasets(records, every_version=run is None, checked=result.checked)
    return result


def _artifacts_of(run: RunRecord, store: ArtifactStore) -> set[tuple[str, str]]:
    """The store artifacts a run uses: those its manifest names, and those it shares files with."""
    named = {tuple(entry["artifact"].split("/", 1)) for entry in run.manifest.get("stages", {}).values()
             if isinstance(entry, dict) and isinstance(entry.get("artifact"), str) and "/" in entry["artifact"]}
    inodes = {(f.stat().st_dev, f.stat().st_ino) for f in run.path.rglob("*") if f.is_file() and not f.is_symlink()}
    for kind, key, path in store.entries():
        if any((f.stat().st_dev, f.stat().st_ino) in inodes for f in path.rglob("*") if f.is_file() and f.name != RECORD):
            named.add((kind, key))
    return named


def _set_aside(store: ArtifactStore) -> list[tuple[Path, dict]]:
    """Artifacts a run found damaged and set aside, whose record can still be read: a run
    folder that shares their files holds the damaged bytes too."""
    aside = store.root / DAMAGED_DIR
    if not aside.is_dir():
        return []
    found = [(folder, read_json(folder / RECORD)) for folder in sorted(aside.iterdir()) if folder.is_dir()]
    return [(folder, record) for folder, record in found if record is not None]


def _stored_files(folders: list[tuple[Path, dict]]) -> dict[tuple[int, int], dict]:
    """(device, inode) of each stored artifact file -> its recorded checksum."""
    out = {}
    for folder, record in folders:
        for relative, checksum in (record.get("checksums") or {}).items():
            path = folder / relative
            if isinstance(checksum, dict) and path.is_file():
                info = path.stat()
                out[(info.st_dev, info.st_ino)] = checksum
    return out


def _run_files(record: RunRecord, by_inode: dict) -> list[Damage]:
    path = record.path
    damage = []
    if read_json(path / "manifest.json") is None:
        damage.append(Damage(path / "manifest.json", "missing, truncated or not JSON"))
    if (path / "metrics.json").exists() and read_json(path / "metrics.json") is None:
        damage.append(Damage(path / "metrics.json", "truncated or not JSON"))
    if (path / "config.yaml").exists():
        import yaml

        try:
            yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            damage.append(Damage(path / "config.yaml", f"not readable YAML ({type(error).__name__})"))
    for file in sorted(f for f in path.rglob("*") if f.is_file() and not f.is_symlink()):
        info = file.stat()
        expected = by_inode.get((info.st_dev, info.st_ino))
        if expected is not None and (info.st_size != expected["size"] or file_sha256(file) != expected["sha256"]):
            damage.append(Damage(file, "content differs from the sha256 the store recorded"))
    return damage


def _datasets(records: list[RunRecord], every_version: bool, checked: list[str]) -> list[Damage]:
    from recsys_cli.core.atomic import is_stored_version
    from recsys_cli.data.dataset_store import check_version

    read = {r.dataset.resolve() for r in records if r.dataset is not None and r.dataset.exists()}
    versions = set(read)
    if every_version:
        for store in {v.parent for v in read if is_stored_version(v)}:
            versions |= {p for p in store.iterdir() if p.is_dir() and not p.name.startswith(".")}
    damage = []
    for version in sorted(versions):
        checked.append(f"dataset {version}")
        damage += check_version(version, full=True)
    return damage


def run_record(runs_dir: Path, reference: str) -> RunRecord:
    """The run `recsys runs verify RUN` names, even when its manifest is unreadable."""
    from recsys_cli.core.errors import InputError

    for candidate in (Path(reference), Path(runs_dir) / reference, Path(runs_dir) / reference / "latest"):
        marker = read_marker(candidate) or {}
        if candidate.is_dir() and ((candidate / "manifest.json").exists() or marker.get("kind") == "run"):
            return read_run(candidate.resolve())
    raise InputError(f"no run folder {reference!r}: give a run folder, NAME/RUN_ID or an experiment NAME", path=runs_dir)
