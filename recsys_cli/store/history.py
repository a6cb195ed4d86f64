"""What the runs folder holds over time: listing, diffs and metric history (read-only; prune
is recsys_cli/store/prune.py).

Only folders a recsys store made are runs (store/identity.py): a folder holding a
`manifest.json` without the marker of the store that made it at that place is not listed. An
experiment folder that is a symbolic link is followed for reading; experiment names are
single folder names, never a path out of the runs folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from recsys_cli.core.atomic import read_json
from recsys_cli.core.errors import InputError
from recsys_cli.store.identity import STORE_DIR, is_recsys_folder, read_marker


@dataclass
class RunRecord:
    path: Path
    manifest: dict
    metrics: dict = field(default_factory=dict)  # model -> {metric@k: value}
    damaged: list[str] = field(default_factory=list)  # its records that cannot be read

    @property
    def experiment(self) -> str:
        return self.manifest.get("name", self.path.parent.name)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def started_at(self) -> str:
        return self.manifest.get("started_at") or (read_marker(self.path) or {}).get("created_at", "")

    @property
    def status(self) -> str:
        return "damaged" if self.damaged else self.manifest.get("status", "unknown")

    @property
    def gate(self) -> str | None:
        """"passed" or "failed" when the run had a gate."""
        gate = self.manifest.get("gate")
        return None if not isinstance(gate, dict) else ("passed" if gate.get("passed") else "failed")

    @property
    def links(self) -> list[str]:
        """The links of its experiment folder that point to it (latest, passed, pinned)."""
        here = self.path.resolve()
        return [name for name in ("latest", "passed", "pinned")
                if (self.path.parent / name).is_symlink() and (self.path.parent / name).resolve() == here]

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


def read_run(path: Path) -> RunRecord:
    """A run folder's record; a manifest or metrics.json that cannot be read gives status
    "damaged" (`recsys runs verify RUN` says more)."""
    manifest = read_json(path / "manifest.json")
    metrics = read_json(path / "metrics.json") if (path / "metrics.json").exists() else {}
    damaged = [name for name, payload in (("manifest.json", manifest), ("metrics.json", metrics)) if payload is None]
    models = (metrics or {}).get("models", {})
    return RunRecord(path, manifest or {}, models if isinstance(models, dict) else {}, damaged)


def open_runs_dir(runs_dir: Path) -> Path:
    """The resolved runs folder, after what every command that opens it does first: the
    store's identity is made or renewed (a copy takes its own id, a folder from before markers
    is adopted) and what a killed prune had set aside is deleted. A runs folder that cannot be
    written is only read."""
    from recsys_cli.core.trash import finish_removals
    from recsys_cli.store.identity import StoreIdentity

    runs_dir = Path(runs_dir).resolve()
    if runs_dir.is_dir():
        try:
            StoreIdentity.open(runs_dir, create=True)
            finish_removals(runs_dir / STORE_DIR)
        except OSError:
            pass
    return runs_dir


def experiment_runs(runs_dir: Path, name: str | None = None) -> list[RunRecord]:
    """Run folders of one experiment (or of all), oldest first: folders a recsys store made
    there (its marker), as paths under the resolved runs folder."""
    runs_dir = open_runs_dir(runs_dir)
    if name is not None:
        check_experiment(runs_dir, name)
    records = []
    for experiment in [name] if name else experiment_names(runs_dir):
        records += [read_run(path) for path in run_folders(runs_dir / experiment)]
    return sorted(records, key=lambda r: (r.started_at, r.run_id))


def run_folders(experiment: Path) -> list[Path]:
    """The run folders in an experiment folder (a link to one is followed): real folders
    carrying a recsys marker made at exactly that place."""
    if not experiment.is_dir():
        return []
    return sorted(p for p in experiment.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
                  and is_recsys_folder(p, f"{experiment.name}/{p.name}", "run"))


def check_name(name: str) -> None:
    """An experiment name is one folder name: not empty, no separator, not `.`/`..` nor hidden."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or Path(name).name != name:
        raise InputError(f"{name!r} is not an experiment name (one folder name in the runs folder, "
                         "like quickstart)")


def check_experiment(runs_dir: Path, name: str) -> None:
    check_name(name)
    if name not in experiment_names(runs_dir):
        known = ", ".join(experiment_names(runs_dir)) or "none"
        raise InputError(f"no runs of an experiment named {name!r} (experiments: {known})", path=runs_dir)


def experiment_names(runs_dir: Path) -> list[str]:
    """Experiment folders of the runs folder: those a recsys store made (its marker)."""
    if not Path(runs_dir).is_dir():
        return []
    return sorted(p.name for p in Path(runs_dir).iterdir()
                  if p.is_dir() and p.name != STORE_DIR and not p.name.startswith(".")
                  and is_recsys_folder(p, p.name, "experiment"))


def resolve_run(runs_dir: Path, reference: str) -> RunRecord:
    """A run by folder path, `NAME/RUN_ID`, or `NAME` (its latest complete run)."""
    from recsys_cli.store.runs import check_manifest, read_run_record

    candidates = [Path(reference), Path(runs_dir) / reference, Path(runs_dir) / reference / "latest"]
    for candidate in candidates:
        if (candidate / "manifest.json").is_file():
            path = candidate.resolve()
            check_manifest(path)
            read_run_record(path, "metrics.json")  # names a damaged one
            return read_run(path)
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


PLOT_SOFTWARE = "recsys runs history"  # the PNG's Software text: how a plot we made is told from others


def check_plot_target(path: Path) -> None:
    """Refuse (InputError, exit 2) a `--plot` path that is a folder, a link or a file recsys did
    not draw: only a missing file or an earlier history plot is replaced."""
    path = Path(path)
    if path.is_symlink():
        raise InputError("is a symbolic link; give a new file name for the plot", path=path)
    if path.is_dir():
        raise InputError("is a folder; give a file name for the plot, e.g. "
                         f"{path / 'history.png'}", path=path)
    if path.exists() and not _is_our_plot(path):
        raise InputError("exists and is not a plot `recsys runs history` drew; refusing to replace it: "
                         "give a new file name", path=path)


def _is_our_plot(path: Path) -> bool:
    """Whether `path` is a PNG carrying our Software text before its image data."""
    import struct

    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return False
    if not head.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    at = 8
    while at + 8 <= len(head):
        length, kind = struct.unpack(">I", head[at:at + 4])[0], head[at + 4:at + 8]
        if kind == b"tEXt" and head[at + 8:at + 8 + length] == b"Software\x00" + PLOT_SOFTWARE.encode():
            return True
        if kind == b"IDAT":
            return False
        at += 12 + length
    return False


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
    write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", metadata={"Software": PLOT_SOFTWARE}))
    plt.close(figure)
    return path
