"""The track stage: a finished run folder logged as one MLflow run (`tracking: {mlflow: URI}`).

It reads only the run folder — config.yaml, manifest.json, metrics.json,
tune/<model>/trials.parquet, report.html, metrics.csv — so the run's own last step and a later
`recsys runs track RUN` log the same thing:

- params: the resolved config flattened to dotted keys (`models.ials.params.factors`; a model
  list is keyed by the models' names), each value cut to 500 characters, the limit of older
  tracking servers (config.yaml itself is an artifact); a tuned model's chosen parameters as
  `tuned.<model>.<param>`;
- metrics: `<model>.<metric>_at_<k>` for every metric at every K (MLflow names allow no `@`);
- child runs: one per tuning trial — its parameters, its objective as `value` (tag
  recsys.objective says which metric), its Optuna state;
- tags: recsys.run_id, recsys.key, the gate verdict (recsys.gate: passed, failed or none), the
  dataset fingerprint and the config file's git commit (recorded when the run ended);
- artifacts: report.html, metrics.csv, config.yaml.

The MLflow run is keyed by `recsys.key`, the fingerprint of the config, the dataset version,
the results (metrics.json) and the gate verdict: a re-run that reused everything has the same
key and is not logged again, nor is one folder tracked twice. A failure of the tracker never
fails the run: the manifest gets `tracking: {status: failed, reason}`, the run says "not
tracked: <reason>", and `recsys runs track RUN` logs it later.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

from recsys_cli.core.atomic import fingerprint, read_json
from recsys_cli.core.errors import InputError
from recsys_cli.stages.env import StageEnv
from recsys_cli.store.runs import Run

PARAM_VALUE_LIMIT = 500  # MLflow servers before 2.x refuse longer values; newer ones allow 6000
ARTIFACTS = ("report.html", "metrics.csv", "config.yaml")
# A nightly job should not hang for minutes on a tracker that is down (MLflow's own default is
# 7 retries with a backoff factor of 2); a user's environment still wins.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
TRIAL_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


class TrackingFailed(Exception):
    """The tracker could not be reached or refused the run; the message says why."""


@dataclass(frozen=True)
class Tracked:
    status: str  # "tracked", or "already tracked" (a finished MLflow run has the same key)
    uri: str  # credentials removed
    experiment: str
    mlflow_run_id: str
    key: str


@dataclass(frozen=True)
class RunContent:
    """What one MLflow run of a run folder holds."""

    run_id: str
    key: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    trials: dict[str, list[dict]]  # model -> rows of tune/<model>/trials.parquet
    objectives: dict[str, str]  # model -> the metric its trials' `value` is (mrr@100 on validation)
    artifacts: list[Path]
    started_ms: int | None
    finished_ms: int | None


# -- the driver's step and `recsys runs track` --------------------------------------------------
def track_run(env: StageEnv) -> None:
    """The run's last step: record where its config came from, then log the folder. Whatever
    fails here is recorded and said ("not tracked: ..."), never raised: the run is complete."""
    started = time.perf_counter()
    env.run.manifest["tracking"] = config_source(env.experiment._source)
    try:
        outcome = track_folder(env.run)
    except Exception as failure:  # noqa: BLE001 - the run is complete whatever happens to its tracking
        if not isinstance(failure, TrackingFailed):  # track_folder records the tracker's own failures
            env.run.manifest["tracking"].update(status="failed", reason=f"{type(failure).__name__}: {failure}")
            env.run.save()
        env.run.log(f"not tracked: {failure}")
        env.reporter.message(f"not tracked: {failure}; log it later with `recsys runs track {env.run.path}`")
        return
    env.run.log(f"track: {outcome.status} as MLflow run {outcome.mlflow_run_id} ({outcome.uri})")
    env.reporter.stage("track", time.perf_counter() - started, skipped=outcome.status == "already tracked")


def track_saved(path: Path, uri: str | None = None, experiment: str | None = None) -> Tracked:
    """`recsys runs track RUN`: log a complete run folder (to `uri`, else its config's)."""
    manifest = read_json(path / "manifest.json")
    if manifest is None:
        raise InputError("no readable manifest.json: not a run folder", path=path)
    if manifest.get("status") != "complete":
        raise InputError(f"the run is {manifest.get('status', 'unknown')!r}, not complete: only a finished run is "
                         "tracked (finish it with `recsys run` on its config)", path=path)
    return track_folder(Run(path, manifest), uri, experiment)


def track_folder(run: Run, uri: str | None = None, experiment: str | None = None) -> Tracked:
    """Log `run`'s folder and record the outcome in its manifest: `tracking: {status:
    tracked | already tracked | failed, ...}`. Raises TrackingFailed after recording it."""
    config = _read_config(run.path)
    block = config.get("tracking") or {}
    uri = uri or block.get("mlflow")
    if not uri:
        raise InputError("the run's config has no `tracking: {mlflow: URI}`; give --tracking-uri", path=run.path)
    experiment = experiment or block.get("experiment") or config.get("name") or run.path.parent.name
    content = run_content(run.path, run.manifest, config)
    source = run.manifest.get("tracking") or {}  # where the config came from, recorded when the run ended
    record = {k: source[k] for k in ("config", "git_commit", "git_dirty") if k in source}
    record.update(uri=redacted(uri), experiment=experiment, at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    try:
        outcome = log_content(content, uri, experiment, block.get("artifacts"))
    except TrackingFailed as failure:
        run.manifest["tracking"] = {**record, "status": "failed", "reason": str(failure)}
        run.save()
        raise
    run.manifest["tracking"] = {**record, "status": outcome.status, "mlflow_run_id": outcome.mlflow_run_id,
                                "key": outcome.key}
    run.save()
    return outcome


# -- what the folder holds ----------------------------------------------------------------------
def _read_config(path: Path) -> dict:
    import yaml

    try:
        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InputError(f"config.yaml unreadable: {error}", path=path) from None
    if not isinstance(config, dict):
        raise InputError("config.yaml is not a mapping", path=path)
    return config


def run_content(path: Path, manifest: dict, config: dict) -> RunContent:
    metrics_file = path / "metrics.json"
    results = read_json(metrics_file)
    if results is None:
        raise InputError("no readable metrics.json: the run has no results to track", path=path)
    gate = manifest.get("gate") or {}
    verdict = {True: "passed", False: "failed"}.get(gate.get("passed"), "none")
    dataset = dataset_fingerprint(manifest)
    # The results without the comparison with the baseline run, which a re-run that reused
    # everything makes anew (its baseline is the run before it).
    measured = {k: v for k, v in results.items() if k not in ("baseline", "gate")}
    key = fingerprint({"config": manifest.get("config_fingerprint") or fingerprint(config), "dataset": dataset,
                       "results": fingerprint(measured), "gate": verdict})
    source = manifest.get("tracking") or {}
    tags = {"recsys.run_id": path.name, "recsys.key": key, "recsys.experiment": str(manifest.get("name", "")),
            "recsys.run_path": str(path), "recsys.config_fingerprint": str(manifest.get("config_fingerprint", "")),
            "recsys.status": str(manifest.get("status", "")), "recsys.gate": verdict, "mlflow.runName": path.name}
    if dataset:
        tags["recsys.dataset_fingerprint"] = dataset
    if source.get("git_commit"):
        tags["recsys.config_git_commit"] = tags["mlflow.source.git.commit"] = source["git_commit"]
        tags["recsys.config_git_dirty"] = str(bool(source.get("git_dirty"))).lower()
    params = flat_params(config)
    for model, tuning in (results.get("tuning") or {}).items():  # what the tuned models were trained with
        params.update(flat_params({"tuned": {model: tuning.get("best_params") or {}}}))
    metrics = {metric_name(model, name): float(value) for model, row in (results.get("models") or {}).items()
               for name, value in row.items() if isinstance(value, (int, float))}
    trials = {}
    for file in sorted((path / "tune").glob("*/trials.parquet")):
        import polars as pl

        trials[file.parent.name] = pl.read_parquet(file).to_dicts()
    objectives = {model: f"{tuning.get('metric')} on validation"
                  for model, tuning in (results.get("tuning") or {}).items()}
    return RunContent(path.name, key, params, metrics, tags, trials, objectives,
                      [path / name for name in ARTIFACTS if (path / name).is_file()],
                      _millis(manifest.get("started_at")), _millis(manifest.get("finished_at")))


def dataset_fingerprint(manifest: dict) -> str | None:
    """The fingerprint of the dataset version the run read: the manifest's, else dataset.json's."""
    ingest = (manifest.get("stages") or {}).get("ingest") or {}
    if ingest.get("dataset_fingerprint"):
        return ingest["dataset_fingerprint"]
    info = read_json(Path(ingest["dataset"]) / "dataset.json") if ingest.get("dataset") else None
    return (info or {}).get("fingerprint")


def metric_name(model: str, metric: str) -> str:
    """`ials` + `mrr@100` -> `ials.mrr_at_100`."""
    return _legal(f"{model}.{metric.replace('@', '_at_')}")


def flat_params(config: dict) -> dict[str, str]:
    """The config as MLflow params: dotted keys, a list of named entries keyed by name,
    other values as JSON text, each at most PARAM_VALUE_LIMIT characters."""
    flat: dict[str, str] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
            value = {str(v["name"]): {k: x for k, x in v.items() if k != "name"} for v in value}
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else str(k))
        else:
            flat[_legal(key)] = param_value(value)

    walk(config, "")
    return flat


def param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    cut = " ... (cut: the whole value is in config.yaml)"
    return text if len(text) <= PARAM_VALUE_LIMIT else text[: PARAM_VALUE_LIMIT - len(cut)] + cut


def _legal(name: str) -> str:
    """A param or metric name MLflow accepts: letters, digits, _ - . / and spaces, at most 250."""
    return re.sub(r"[^\w.\- /]", "_", name)[:250]


def _millis(stamp: str | None) -> int | None:
    if not stamp:
        return None
    try:
        return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() * 1000)
    except ValueError:
        return None


def config_source(path: Path | None) -> dict:
    """The experiment file and, when its folder is a git checkout, the commit it is at (and
    whether the file has uncommitted changes)."""
    if path is None:
        return {}
    record: dict = {"config": str(path)}
    git = lambda *args: subprocess.run(["git", "-C", str(path.parent), *args], capture_output=True,  # noqa: E731
                                       text=True, timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode == 0:
            changes = git("status", "--porcelain", "--", path.name)
            record.update(git_commit=head.stdout.strip(), git_dirty=bool(changes.stdout.strip()))
    except (OSError, subprocess.SubprocessError):
        pass  # no git, or too slow: the commit is left out
    return record


def redacted(uri: str) -> str:
    """The URI without a password (it goes into the manifest and the terminal)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")))


# -- the tracker ------------------------------------------------------------------------------
def log_content(content: RunContent, uri: str, experiment: str, artifacts: str | None = None) -> Tracked:
    """One MLflow run (and a child per trial) for `content`, unless a finished run in the
    experiment has its key. Any failure of the tracker becomes TrackingFailed."""
    try:
        import mlflow  # noqa: F401 - imported here only: a run without tracking never pays for it
        from mlflow import MlflowClient
    except ImportError as error:
        raise TrackingFailed(f"mlflow is not installed ({error.name}); pip install 'recsys_cli[mlflow]'") from None
    with _quiet_tracker():
        try:
            client = MlflowClient(tracking_uri=uri)
            experiment_id = _experiment_id(client, experiment, artifacts)
            existing = [r for r in client.search_runs([experiment_id], f"tags.`recsys.key` = '{content.key}'",
                                                      max_results=20) if r.info.status == "FINISHED"]
            if existing:
                return Tracked("already tracked", redacted(uri), experiment, existing[0].info.run_id, content.key)
            return Tracked("tracked", redacted(uri), experiment, _log(client, experiment_id, content), content.key)
        except TrackingFailed:
            raise
        except Exception as error:  # noqa: BLE001 - whatever the tracker raises, the run is kept
            raise TrackingFailed(_reason(error, uri)) from None


def _experiment_id(client, name: str, artifacts: str | None) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(name, artifact_location=artifacts)
    if found.lifecycle_stage != "active":
        raise TrackingFailed(f"MLflow experiment {name!r} is deleted; restore it or set tracking.experiment")
    return found.experiment_id


def _log(client, experiment_id: str, content: RunContent) -> str:
    from mlflow.entities import Metric, Param

    run = client.create_run(experiment_id, start_time=content.started_ms, tags=content.tags, run_name=content.run_id)
    run_id = run.info.run_id
    try:
        stamp = content.finished_ms or int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, v, stamp, 0) for k, v in content.metrics.items()],
                         params=[Param(k, v) for k, v in content.params.items()])
        for file in content.artifacts:
            client.log_artifact(run_id, str(file))
        for model, rows in content.trials.items():
            for row in rows:
                _log_trial(client, experiment_id, run_id, model, row, content.objectives.get(model))
        client.set_terminated(run_id, "FINISHED", end_time=content.finished_ms)
    except BaseException:
        with contextlib.suppress(Exception):  # a half-logged run never counts as tracked
            client.set_terminated(run_id, "FAILED")
        raise
    return run_id


def _log_trial(client, experiment_id: str, parent: str, model: str, row: dict, objective: str | None) -> None:
    from mlflow.entities import Metric, Param

    state = str(row.get("state"))
    child = client.create_run(experiment_id, run_name=f"{model}-trial-{row.get('number')}", tags={
        "mlflow.parentRunId": parent, "recsys.model": model, "recsys.trial": str(row.get("number")),
        "optuna.state": state, **({"recsys.objective": objective} if objective else {})})
    now = int(time.time() * 1000)
    params = [Param(_legal(k.removeprefix("params_")), param_value(v)) for k, v in row.items()
              if k.startswith("params_") and v is not None]
    metrics = [Metric(k, float(row[k]), now, 0) for k in ("value", "duration_s", "iterations_done")
               if isinstance(row.get(k), (int, float))]
    client.log_batch(child.info.run_id, metrics=metrics, params=params)
    client.set_terminated(child.info.run_id, TRIAL_STATUS.get(state, "KILLED"))


def _reason(error: Exception, uri: str) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    text = (lines[0] if lines else "").replace(uri, redacted(uri))
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{redacted(uri)}: {type(error).__name__}: {text}"


@contextlib.contextmanager
def _quiet_tracker() -> Iterator[None]:
    """MLflow's and alembic's INFO lines (database creation, migrations) kept out of the
    run's output, and bounded HTTP retries, for the duration of the logging."""
    import logging

    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    unset = [name for name in HTTP_DEFAULTS if name not in os.environ]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    os.environ.update({name: HTTP_DEFAULTS[name] for name in unset})
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        for name in unset:
            os.environ.pop(name, None)
