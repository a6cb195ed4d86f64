"""An unchanged re-run answered by the run it repeats: make's and DVC's "up to date".

When `recsys run` is given the same experiment file (byte for byte, from the same place, with
the same `--gate` options) and the code, the libraries, the source files it ingests, the
dataset version and the split are what they were when the experiment's `latest` run finished,
running it again would only make a copy of that run. So it is not run again: the command
says the latest run is up to date and prints that run's results, without importing numpy,
polars or anything that computes (a re-run costs what starting the CLI costs).

Nothing is trusted because it is on disk. At the end of every `recsys run`, a record
`<runs>/.store/replay/<key>.json` (sealed by a digest of itself) keeps the run's key, where the
run is, the checksums of every file in its folder and of the dataset version and split it
read, and the digests of the source files. An up-to-date answer needs all of them to hold
again (the same hashing policy as every store read: core/integrity.py), `latest` to point at
that run, and, for a run with a gate, the same baseline run; anything else, and the run goes
through its stages as usual (which still reuse what the store holds). A run whose MLflow
logging failed, or whose tuning its time budget stopped, is never an answer: the next run
logs again, or goes on with the study.

The key covers: the experiment file's bytes and absolute path, the working directory (a
relative path in the file means something else elsewhere), the runs folder, the `--gate`
options, Python, recsys_cli's own code (path, size and modification time of every module)
and the numeric libraries' installed files.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from recsys_cli import __version__
from recsys_cli.core.atomic import read_json, write_json
from recsys_cli.core.code_state import code_state
from recsys_cli.core.integrity import Damage, Sessions, check_files, checksums, seal, sealed
from recsys_cli.store.baseline import find_baseline
from recsys_cli.store.identity import STORE_DIR

REPLAY_DIR = "replay"


@dataclass(frozen=True)
class UpToDate:
    """The latest run, found to be what this command would make again."""

    run: Path
    summary: dict
    files_checked: int
    gate_failure: str | None  # the run's failed gate, which the re-run reports again


def run_key(config: Path, runs_dir: Path, gates: list[str] | None) -> str | None:
    """The key of `recsys run CONFIG --runs-dir RUNS_DIR --gate ...` in this environment;
    None when the experiment file cannot be read (the run itself will say why)."""
    try:
        config_bytes = Path(config).read_bytes()
    except OSError:
        return None
    payload = {
        "config": hashlib.sha256(config_bytes).hexdigest(), "config_path": str(Path(config).absolute()),
        "cwd": os.getcwd(), "runs_dir": str(Path(runs_dir).absolute()), "gates": list(gates or []),
        "python": sys.version, "recsys_cli": __version__, "code": code_state(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _record_path(runs_dir: Path, key: str) -> Path:
    return Path(runs_dir) / STORE_DIR / REPLAY_DIR / f"{key}.json"


def remember(key: str, runs_dir: Path, summary: dict, gate_failure: str | None = None) -> None:
    """Record the run `summary` describes as the answer to `key`, replacing the records of
    the experiment's earlier runs (only the `latest` run can be up to date)."""
    from recsys_cli.core.atomic import json_value

    run = Path(summary["path"]).resolve()
    runs_dir = Path(runs_dir).resolve()
    if run.parent.parent != runs_dir or summary.get("status") != "complete":
        return
    if (summary.get("tracking") or {}).get("status") == "failed":
        return  # not an answer: the next run logs to MLflow again
    manifest = read_json(run / "manifest.json") or {}
    stages = manifest.get("stages", {})
    if any(isinstance(entry, dict) and entry.get("unfinished") for entry in stages.values()):
        return  # a study its time budget stopped: the next run goes on with it
    dataset = stages.get("ingest", {}).get("dataset")
    splits = [entry.get("path") for stage, entry in stages.items() if stage == "split" or stage.endswith("/split")]
    dependencies = {}
    for folder in [dataset, *splits]:
        if folder and Path(folder).is_dir():
            files = sorted(p.name for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
            dependencies[str(Path(folder).resolve())] = checksums(Path(folder), files)
    recorded_sources = ((read_json(Path(dataset) / "dataset.json") or {}).get("sources") or []) if dataset else []
    sources = {}  # the digests ingest took, with the file's time now (a later change of it is hashed)
    for source in recorded_sources:
        path = Path(source.get("path", ""))
        info = path.stat() if path.is_file() else None
        if info is None or info.st_size != source.get("bytes"):
            return  # a source changed or went during the run: nothing to answer a re-run with
        sources[str(path.absolute())] = {"sha256": source.get("sha256"), "size": source["bytes"],
                                         "mtime_ns": info.st_mtime_ns}
    record = seal({
        "key": key, "run": run.relative_to(runs_dir).as_posix(),
        "files": checksums(run, sorted(p.name for p in run.iterdir())),
        "dependencies": dependencies, "sources": sources,
        "dataset": str(Path(dataset).resolve()) if dataset else None, "dataset_name": stages.get("ingest", {}).get("name"),
        "baseline": ((summary.get("baseline") or {}).get("baseline") or {}).get("run") if summary.get("gate") else None,
        "gated": summary.get("gate") is not None, "gate_failure": gate_failure,
        "summary": json.loads(json.dumps(summary, default=json_value)),
    })
    folder = _record_path(runs_dir, key).parent
    folder.mkdir(parents=True, exist_ok=True)
    for other in folder.glob("*.json"):
        previous = read_json(other) or {}
        if other.name != f"{key}.json" and str(previous.get("run", "")).split("/")[0] == run.parent.name:
            other.unlink(missing_ok=True)
    write_json(_record_path(runs_dir, key), record)


def up_to_date(key: str, runs_dir: Path) -> UpToDate | None:
    """The run recorded for `key`, when every check holds (module docstring); else None."""
    record = read_json(_record_path(runs_dir, key))
    if record is None or not sealed(record) or record.get("key") != key or not isinstance(record.get("run"), str):
        return None
    runs_dir = Path(runs_dir).resolve()
    run = (runs_dir / record["run"]).resolve()
    latest = run.parent / "latest"
    if run.parent.parent != runs_dir or not latest.is_symlink() or latest.resolve() != run:
        return None  # only an experiment's latest run, inside this runs folder, answers
    if record.get("gated") and _baseline_now(run) != record.get("baseline"):
        return None  # the gate would compare with another run now
    name, dataset = record.get("dataset_name"), record.get("dataset")
    if name and dataset and Path(name).resolve() != Path(dataset):
        return None  # the dataset's name points at another version now
    # The first answer, and the first after an unclean stop, hashes everything.
    if Sessions(runs_dir / STORE_DIR).check(f"{REPLAY_DIR}-{key}", lambda full: _damage(run, record, full)):
        return None
    files = len(record["files"]) + sum(len(f) for f in record["dependencies"].values()) + len(record["sources"])
    return UpToDate(run, record["summary"], files, record.get("gate_failure"))


def _baseline_now(run: Path) -> str | None:
    """The run a gate would compare a new run with now (the latest run itself, once it passed)."""
    baseline, _ = find_baseline(run.parent)
    return baseline.name if baseline is not None else None


def _damage(run: Path, record: dict, full: bool) -> list[Damage]:
    """What differs from the record: the run's files, the dataset version and split it read,
    and the source files (absolute paths), each under the store's hashing policy."""
    damage = check_files(run, record["files"], full)
    for folder, files in {**record["dependencies"], "/": record["sources"]}.items():
        damage += check_files(Path(folder), files, full)
    return damage
