"""Read what a run folder already holds into plain values for the HTML page.

Nothing here trains or evaluates: every number comes from a file the run wrote (manifest,
config, metrics.json, per_user/, tune/, compare/, models/, the exports) or from the dataset
and split folders the manifest points at. A file that is absent makes its part of the page
say why; a run folder without a manifest is bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from recsys_cli.core.errors import InputError
from recsys_cli.store.inputs import find_run_dataset, find_run_split, resolve_recorded
from recsys_cli.store.runs import resolve_run_dir


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read JSON ({error})", path=path) from None


@dataclass
class TuneData:
    model: str
    record: dict  # the manifest's tune/<model> stage record
    trials: pl.DataFrame  # tune/<model>/trials.parquet
    space: dict[str, dict]  # parameter -> {"kind": int|float|categorical, "log": bool}
    importances: dict[str, float] | None
    importances_note: str  # why importances are missing, when they are


@dataclass
class RunData:
    path: Path
    manifest: dict
    config: dict
    config_text: str
    metrics: dict[str, dict[str, float]]  # model -> metric@k -> mean
    intervals: dict[str, dict[str, list]]  # model -> metric@k -> [low, high]
    protocol: dict
    dataset_dir: Path | None
    dataset_info: dict | None
    split_dir: Path | None
    split_info: dict | None
    tuning: list[TuneData] = field(default_factory=list)
    # metrics.json's column -> significantly best model (None: no clear winner); None when
    # the run predates significance marking (then the plain best is marked).
    significantly_best: dict[str, str | None] | None = None
    tuning_summary: dict[str, dict] = field(default_factory=dict)  # metrics.json's `tuning`
    compare: dict | None = None
    history: list[dict] = field(default_factory=list)  # earlier runs of the experiment
    repeats: dict | None = None  # metrics.json's `repeats` (split: {repeats: R} / {folds: F})
    gate: dict | None = None  # metrics.json's `gate`: the verdict
    baseline: dict = field(default_factory=dict)  # metrics.json's `baseline`: changes since the baseline run
    split: Any = None  # the run's SplitData when the run itself draws the page: its parts are in memory

    @property
    def models(self) -> list[str]:
        return [stage.split("/", 1)[1] for stage in self.manifest.get("stages", {}) if stage.startswith("train/")]

    @property
    def headline_metric(self) -> str | None:
        """The config's first metric at its largest K (what compare and history default to)."""
        metrics = self.config.get("metrics") or {}
        names, ks = metrics.get("names") or ["mrr"], metrics.get("k") or [100]
        wanted = f"{names[0]}@{max(ks)}"
        columns = {c for values in self.metrics.values() for c in values}
        return wanted if wanted in columns else next(iter(sorted(columns)), None)

    def stage(self, name: str) -> dict:
        return self.manifest.get("stages", {}).get(name) or {}

    def items(self) -> pl.DataFrame | None:
        """items.parquet of the run's dataset (item_idx, item_id, name...), when reachable."""
        return _read_parquet(self.dataset_dir / "items.parquet") if self.dataset_dir else None

    def users(self) -> pl.DataFrame | None:
        return _read_parquet(self.dataset_dir / "users.parquet") if self.dataset_dir else None

    def split_part(self, name: str):
        """A part of the run's split: from the run's memory when it draws the page, else read."""
        from recsys_cli.data.csr_file import read_sparse

        if self.split is not None and self.split_dir is not None and Path(self.split.path).resolve() == self.split_dir.resolve():
            return self.split.read_part(name) if self.split.has(name) else None
        if self.split_dir is None or not (self.split_dir / f"{name}.npz").is_file():
            return None
        return read_sparse(self.split_dir / f"{name}.npz")


def _read_parquet(path: Path) -> pl.DataFrame | None:
    return pl.read_parquet(path) if path.is_file() else None


def read_run(path: Path) -> RunData:
    import yaml

    path = resolve_run_dir(path)
    manifest = _json(path / "manifest.json")
    config_text = (path / "config.yaml").read_text() if (path / "config.yaml").is_file() else ""
    config = (yaml.safe_load(config_text) or {}) if config_text else {}
    metrics_json = _json(path / "metrics.json") or {}
    stages = manifest.get("stages", {})
    dataset_dir = find_run_dataset(path, manifest, config)
    split_dir = find_run_split(path, manifest, config, dataset_dir)
    data = RunData(
        path=path, manifest=manifest, config=config, config_text=config_text,
        metrics=metrics_json.get("models", {}), intervals=metrics_json.get("intervals_95", {}),
        protocol=metrics_json.get("protocol", {}),
        significantly_best=metrics_json.get("significantly_best"),
        tuning_summary=metrics_json.get("tuning") or {}, repeats=metrics_json.get("repeats"),
        gate=metrics_json.get("gate"), baseline=metrics_json.get("baseline") or {},
        dataset_dir=dataset_dir, dataset_info=_json(dataset_dir / "dataset.json") if dataset_dir else None,
        split_dir=split_dir, split_info=_json(split_dir / "split.json") if split_dir else None,
    )
    data.tuning = [read_tuning(data, stage.split("/", 1)[1], record) for stage, record in stages.items()
                   if stage.startswith("tune/") and record.get("status") == "done"
                   and (path / stage / "trials.parquet").is_file()]
    data.compare = _json(path / "compare" / "compare.json")
    data.history = read_history(path)
    return data


def read_tuning(data: RunData, model: str, record: dict) -> TuneData:
    from recsys_cli.tuning.study import study_importances, study_space

    trials = pl.read_parquet(data.path / "tune" / model / "trials.parquet")
    study = _load_study(data.path, record)
    saved = _json(data.path / "tune" / model / "importances.json")  # the tune stage's, when it wrote them
    if saved is not None:
        importances, note = saved.get("importances"), saved.get("note", "")
    elif study is None:
        importances, note = None, "the Optuna study (study.db) is not reachable from here, so importances cannot be computed"
    else:
        importances, note = study_importances(study)
    space = study_space(study) if study is not None else {}
    if not space:
        space = _space_from_config(data.config, model)
    return TuneData(model, record, trials, space, importances, note)


def _load_study(run_path: Path, record: dict):
    import optuna

    from recsys_cli.tuning.study import open_storage

    storage = resolve_recorded(record["storage"], run_path) if record.get("storage") else None
    if storage is None or not record.get("study"):
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=record["study"], storage=open_storage(storage))
    except KeyError:  # the database holds no study of that name
        return None


def _space_from_config(config: dict, model: str) -> dict[str, dict]:
    """The declared space (the config's, else the model type's default) when the study is gone."""
    from recsys_cli.models.registry import model_class
    from recsys_cli.tuning.study import is_integer_param, space_for

    entry = next((m for m in config.get("models", []) if m.get("name") == model), None)
    if entry is None:
        return {}
    tune = entry.get("tune") if isinstance(entry.get("tune"), dict) else {}
    params_cls = model_class(entry["type"]).Params
    space = {}
    for name, spec in space_for(entry["type"], _space_entries(tune.get("space"))).items():
        kind = ("categorical" if spec.choices is not None
                else "int" if is_integer_param(params_cls, name, spec) else "float")
        space[name] = {"kind": kind, "log": bool(spec.log)}
    return space


def _space_entries(custom: dict | None):
    from recsys_cli.config.blocks import SpaceEntry

    return None if custom is None else {name: SpaceEntry(**spec) for name, spec in custom.items()}


def read_history(run_path: Path) -> list[dict]:
    """Every run of the same experiment (runs/<name>/*/, the folders a recsys store made
    there, and this run) that has readable metrics, oldest first: run id, start time, status
    and its metrics.json models. Another run's damaged record leaves that run out."""
    from recsys_cli.core.atomic import read_json
    from recsys_cli.store.history import run_folders

    rows = []
    for folder in sorted({p.resolve() for p in run_folders(run_path.parent)} | {Path(run_path).resolve()}):
        manifest, metrics = read_json(folder / "manifest.json"), read_json(folder / "metrics.json")
        if manifest is None or metrics is None:
            continue
        rows.append({"run_id": manifest.get("run_id", folder.name), "started_at": manifest.get("started_at"),
                     "status": manifest.get("status"), "models": metrics.get("models", {}),
                     "current": folder.resolve() == run_path.resolve()})
    return rows


def distinct_results(rows: list[dict]) -> list[dict]:
    """The runs whose results differ from the run before them (a streak of identical results
    is one point, at its first run, marked current when the current run is in the streak)."""
    points: list[dict] = []
    for row in rows:
        if points and points[-1]["models"] == row["models"]:
            points[-1] = {**points[-1], "current": points[-1]["current"] or row["current"]}
        else:
            points.append(dict(row))
    return points


def item_labels(items: pl.DataFrame | None) -> pl.DataFrame | None:
    """item_id (as text) -> label (the name when the dataset has names, else the id)."""
    if items is None:
        return None
    label = pl.col("name") if "name" in items.columns else pl.col("item_id").cast(pl.String)
    return items.select(pl.col("item_id").cast(pl.String), pl.col("item_idx"), label.alias("label"))


def summary_value(value: Any) -> str:
    """Short text for a parameter value on the page."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
