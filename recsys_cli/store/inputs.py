"""Where a finished run's dataset and split are now: for `recsys recommend`/`similar`,
`recsys compare` and the HTML report, which all read a run folder after the fact.

A run records the dataset version it read (`stages.ingest.dataset`), the user's name for it
(`stages.ingest.name`) and its fingerprint. Each recorded path is tried as written (absolute,
or relative to the working directory), else by its trailing parts under the run folder's
ancestors (a project copied whole keeps `runs/` and `data/` side by side). When what is found
has another fingerprint — the name now points at a newer version, or a run made before
dataset versions recorded only the name — the stored version with the recorded fingerprint
is used. The split is looked for inside that dataset first (splits live in their dataset).
"""

from __future__ import annotations

from pathlib import Path

from recsys_cli.core.atomic import read_json


def resolve_recorded(recorded: str | Path, run_path: Path, marker: str | None = None) -> Path | None:
    """Where a folder recorded by a run is now: as written, else its trailing parts (longest
    first) under the run folder's ancestors. `marker` is a file the folder must hold
    (dataset.json, split.json). None if nowhere."""
    def fits(candidate: Path) -> bool:
        return (candidate / marker).is_file() if marker else candidate.exists()

    recorded = Path(recorded)
    if fits(recorded):
        return recorded
    parts = recorded.parts[1:] if recorded.is_absolute() else recorded.parts
    for start in range(len(parts)):
        tail = Path(*parts[start:])
        for ancestor in Path(run_path).resolve().parents:
            if fits(ancestor / tail):
                return ancestor / tail
    return None


def recorded_datasets(manifest: dict, config: dict) -> list[str]:
    """The dataset paths a run recorded, most exact first: the version, the name, the config's."""
    ingest = manifest.get("stages", {}).get("ingest", {})
    dataset = config.get("dataset")
    if isinstance(dataset, dict):
        from_config = str(dataset.get("out") or Path("data") / config.get("name", ""))
    else:
        from_config = str(dataset) if dataset else None
    return list(dict.fromkeys(p for p in (ingest.get("dataset"), ingest.get("name"), from_config) if p))


def find_run_dataset(run_path: Path, manifest: dict, config: dict) -> Path | None:
    """The dataset folder the run read, or None when it is nowhere to be found."""
    from recsys_cli.data.dataset_store import version_with_fingerprint

    ingest = manifest.get("stages", {}).get("ingest", {})
    fingerprint = ingest.get("dataset_fingerprint") or ingest.get("fingerprint")
    for recorded in recorded_datasets(manifest, config):
        found = resolve_recorded(recorded, run_path, "dataset.json")
        if found is None:
            continue
        if fingerprint is None or (read_json(found / "dataset.json") or {}).get("fingerprint") == fingerprint:
            return found
        stored = version_with_fingerprint(found, fingerprint)
        if stored is not None:
            return stored
    return None


def recorded_split(manifest: dict, config: dict) -> str | None:
    """The split path a run names: its config's `split.path`, else where its split stage wrote."""
    return (config.get("split") or {}).get("path") or manifest.get("stages", {}).get("split", {}).get("path")


def find_run_split(run_path: Path, manifest: dict, config: dict, dataset_dir: Path | None) -> Path | None:
    """The split folder the run was evaluated on: inside its dataset first, else as recorded."""
    recorded = recorded_split(manifest, config)
    if not recorded:
        return None
    if dataset_dir is not None:
        inside = Path(dataset_dir) / "splits" / Path(recorded).name
        if (inside / "split.json").is_file():
            return inside
    return resolve_recorded(recorded, run_path, "split.json")
