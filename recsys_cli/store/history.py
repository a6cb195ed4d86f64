"""What the runs folder holds over time: listing, diffs, metric history and pruning.

Read-only except `prune`, which removes whole run folders and then the store artifacts no
remaining run links to (see recsys_cli/store/artifacts.py: run folders hard-link artifact files, so a
kept run's bytes can never be freed from under it).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from recsys_cli.core.atomic import read_json
from recsys_cli.core.errors import InputError
from recsys_cli.store.artifacts import CHARTS_DIR, STORE_DIR, ArtifactStore, tree_bytes


@dataclass
class RunRecord:
    path: Path
    manifest: dict
    metrics: dict = field(default_factory=dict)  # model -> {metric@k: value}

    @property
    def experiment(self) -> str:
        return self.manifest.get("name", self.path.parent.name)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def started_at(self) -> str:
        return self.manifest.get("started_at", "")

    @property
    def status(self) -> str:
        return self.manifest.get("status", "unknown")

    def headline(self, metric: str) -> tuple[str, float] | None:
        """(model, value) of the best model on `metric`, or None."""
        values = [(model, row[metric]) for model, row in self.metrics.items() if row.get(metric) is not None]
        return max(values, key=lambda pair: pair[1]) if values else None

    @property
    def dataset(self) -> Path | None:
        """The dataset folder the run read (a stored version, for runs of this version)."""
        path = self.manifest.get("stages", {}).get("ingest", {}).get("dataset")
        return Path(path) if path else None

    def bytes(self) -> tuple[int, int]:
        """(own, total): bytes only this run folder holds, and all its files' bytes."""
        own = total = 0
        for f in self.path.rglob("*"):
            if f.is_file() and not f.is_symlink():
                info = f.stat()
                total += info.st_size
                own += info.st_size if info.st_nlink == 1 else 0
        return own, total


def read_run(path: Path) -> RunRecord | None:
    manifest = read_json(path / "manifest.json")
    if manifest is None:
        return None
    metrics = (read_json(path / "metrics.json") or {}).get("models", {})
    return RunRecord(path, manifest, metrics)


def experiment_runs(runs_dir: Path, name: str | None = None) -> list[RunRecord]:
    """Run folders of one experiment (or of all), oldest first, as absolute paths."""
    runs_dir = Path(runs_dir).absolute()
    if name is not None:
        check_experiment(runs_dir, name)
    folders = [runs_dir / name] if name else [runs_dir / n for n in experiment_names(runs_dir)]
    records = []
    for folder in folders:
        for path in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")):
            record = read_run(path)
            if record is not None:
                records.append(record)
    return sorted(records, key=lambda r: (r.started_at, r.run_id))


def check_experiment(runs_dir: Path, name: str) -> None:
    if not (Path(runs_dir) / name).is_dir():
        known = ", ".join(experiment_names(runs_dir)) or "none"
        raise InputError(f"no runs of an experiment named {name!r} (experiments: {known})", path=runs_dir)


def experiment_names(runs_dir: Path) -> list[str]:
    if not Path(runs_dir).is_dir():
        return []
    return sorted(p.name for p in Path(runs_dir).iterdir()
                  if p.is_dir() and p.name != STORE_DIR and not p.name.startswith("."))


def resolve_run(runs_dir: Path, reference: str) -> RunRecord:
    """A run by folder path, `NAME/RUN_ID`, or `NAME` (its latest complete run)."""
    candidates = [Path(reference), Path(runs_dir) / reference, Path(runs_dir) / reference / "latest"]
    for candidate in candidates:
        if (candidate / "manifest.json").is_file():
            record = read_run(candidate.resolve())
            if record is not None:
                return record
    raise InputError(f"no run folder {reference!r}: give a run folder, NAME/RUN_ID or an experiment NAME "
                     f"(its latest complete run)", path=runs_dir)


def _flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for index, inner in enumerate(value):
            label = inner.get("name", index) if isinstance(inner, dict) else index
            out.update(_flatten(inner, f"{prefix}[{label}]"))
        return out
    return {prefix: value}


def diff_runs(a: RunRecord, b: RunRecord) -> dict:
    """Config keys that differ and metric deltas per model (b - a)."""
    import yaml

    def config(record: RunRecord) -> dict:
        try:
            return _flatten(yaml.safe_load((record.path / "config.yaml").read_text()) or {})
        except (OSError, yaml.YAMLError):
            return {}

    left, right = config(a), config(b)
    changed = {key: [left.get(key), right.get(key)] for key in sorted(set(left) | set(right))
               if left.get(key) != right.get(key)}
    metrics = {}
    for model in sorted(set(a.metrics) | set(b.metrics)):
        row_a, row_b = a.metrics.get(model, {}), b.metrics.get(model, {})
        for metric in sorted(set(row_a) | set(row_b)):
            va, vb = row_a.get(metric), row_b.get(metric)
            if va != vb:
                metrics.setdefault(model, {})[metric] = {
                    "a": va, "b": vb, "delta": None if va is None or vb is None else vb - va}
    return {"a": str(a.path), "b": str(b.path), "config": changed, "metrics": metrics}


def history(records: list[RunRecord], metric: str) -> list[dict]:
    """One row per complete run that has `metric`: when, run id, value per model."""
    rows = []
    for record in records:
        values = {model: row[metric] for model, row in record.metrics.items() if row.get(metric) is not None}
        if record.status == "complete" and values:
            rows.append({"run_id": record.run_id, "started_at": record.started_at, "values": values})
    return rows


def plot_history(rows: list[dict], metric: str, experiment: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recsys_cli.core.atomic import write_atomically

    models = list(dict.fromkeys(model for row in rows for model in row["values"]))
    times = [datetime.strptime(row["started_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) for row in rows]
    figure, axis = plt.subplots(figsize=(8, 4.2), dpi=110)
    for model in models:
        points = [(t, row["values"][model]) for t, row in zip(times, rows) if model in row["values"]]
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=model)
    axis.set_title(f"{experiment}: {metric} per run")
    axis.set_ylabel(metric)
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    write_atomically(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)
    return path


@dataclass
class PrunePlan:
    runs: list[RunRecord]
    artifacts: list[Path]
    datasets: list[Path]  # stored dataset versions no kept run and no name uses
    bytes_freed: int

    def as_dict(self) -> dict:
        return {"runs": [str(r.path) for r in self.runs], "artifacts": [str(p) for p in self.artifacts],
                "datasets": [str(p) for p in self.datasets], "bytes_freed": self.bytes_freed}


def plan_prune(runs_dir: Path, name: str | None, keep_last: int | None, newer_than: str | None) -> PrunePlan:
    """Which run folders go (older than the last `keep_last` of each experiment and not newer
    than `newer_than`; never the `latest` run nor a running one) and which store artifacts
    then have no run left that links to them, with the bytes that frees (each inode once)."""
    if keep_last is None and newer_than is None:
        raise InputError("say what to keep: --keep N (the last N runs) and/or --newer-than DATE")
    if newer_than is not None:
        try:
            datetime.fromisoformat(newer_than)
        except ValueError:
            raise InputError(f"--newer-than {newer_than!r}: expected a date like 2026-11-30 or 2026-11-30T12:00") from None
    if name is not None:
        check_experiment(runs_dir, name)
    every = experiment_runs(runs_dir)  # all experiments: any kept run keeps its dataset version
    doomed = []
    for experiment in ([name] if name else experiment_names(runs_dir)):
        records = [r for r in every if r.path.parent.name == experiment]
        latest = (Path(runs_dir) / experiment / "latest").resolve()
        kept_by_count = {r.run_id for r in records[-keep_last:]} if keep_last else set()
        for record in records:
            keep = record.run_id in kept_by_count
            if newer_than is not None and record.started_at[:len(newer_than)] >= newer_than:
                keep = True
            if record.path == latest or record.status == "running":
                keep = True
            if not keep:
                doomed.append(record)

    def inodes(paths):
        for root in paths:
            for f in [root] if root.is_file() else root.rglob("*"):
                if f.is_file() and not f.is_symlink():
                    yield f.stat()

    removed_links: dict[tuple[int, int], list] = {}
    for info in inodes([r.path for r in doomed]):
        removed_links.setdefault((info.st_dev, info.st_ino), [0, info.st_nlink, info.st_size])[0] += 1
    store = ArtifactStore.for_runs(runs_dir)
    artifacts = []
    for _, _, path in store.entries():
        files = list(inodes([path]))
        # An artifact goes when every link to each of its files is in it or in a doomed run.
        if all(removed_links.get((f.st_dev, f.st_ino), [0])[0] + 1 >= f.st_nlink for f in files):
            artifacts.append(path)
            for f in files:
                removed_links.setdefault((f.st_dev, f.st_ino), [0, f.st_nlink, f.st_size])[0] += 1
    artifacts += [path for _, _, path, _ in store.unreferenced() if ".tmp-" in path.name]
    freed = sum(size for count, links, size in removed_links.values() if count >= links)
    charts = store.root / CHARTS_DIR  # a cache of drawn charts (report/html/chart_cache.py)
    if charts.is_dir():
        artifacts.append(charts)
        freed += tree_bytes(charts)
    datasets = _unused_datasets(every, doomed)
    return PrunePlan(doomed, artifacts, datasets, freed + sum(tree_bytes(p) for p in datasets))


def _unused_datasets(every: list[RunRecord], doomed: list[RunRecord]) -> list[Path]:
    """Dataset versions in the stores the runs read from that only doomed runs (or no run)
    read and that no dataset name points at."""
    from recsys_cli.data.dataset_store import unused_versions

    gone = {r.path for r in doomed}
    every = [r for r in every if r.dataset is not None]
    return unused_versions(seen=[r.dataset for r in every],
                           used=[r.dataset for r in every if r.path not in gone])


def apply_prune(plan: PrunePlan) -> None:
    """Remove the plan's runs, artifacts and dataset versions; a version a run reads at
    this moment is left (and dropped from the plan)."""
    from recsys_cli.data.dataset_store import remove_if_idle

    for record in plan.runs:
        shutil.rmtree(record.path, ignore_errors=True)
    for path in plan.artifacts:
        shutil.rmtree(path, ignore_errors=True)
    plan.datasets = [path for path in plan.datasets if remove_if_idle(path)]
