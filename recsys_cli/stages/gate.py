"""The gate stage: is tonight's run good enough to serve? (TFX's Evaluator and
ExampleValidator, for a cron job.)

- `check_data`, right after ingest and before any model is fitted: the data figures of
  tonight's dataset (counts, weights, the share of new users and items) against the
  baseline run's dataset, for the config's data conditions.
- `compare_with_baseline`, after evaluation: every model's headline metric, and every metric
  a condition names, against the baseline run — paired per user when both runs scored the
  same test pairs (the same split), else unpaired (evaluation/baseline.py).
- `metric_verdict`: the metric conditions on those comparisons.

The baseline is the pinned run, else the last run of the experiment that passed its gate
(store/baseline.py); an experiment without a gate compares with its last complete run, for
the report's "change since" column. A condition relative to a baseline that does not exist
yet (the first night) is not checked, and says so. A metric condition fails only when its
whole 95% interval is on the wrong side of the threshold — a dip within noise is reported,
not failed; a figure without per-user values (coverage) and a data figure are held to their
value. The baseline's per-user values are checked against the store's record before they
are read: a condition is never judged on a damaged file (it fails, saying so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from recsys_cli.config.gate import Condition, format_number, parse_condition
from recsys_cli.core.atomic import read_json
from recsys_cli.stages.env import StageEnv
from recsys_cli.stages.records import frozen_mapping


def conditions(env: StageEnv) -> list[Condition]:
    return [parse_condition(text) for text in env.experiment.gate]


def baseline_run(env: StageEnv) -> tuple[Path | None, str | None]:
    from recsys_cli.store.baseline import find_baseline

    return find_baseline(env.runs_dir / env.experiment.name, exclude=env.run.path, or_latest=not env.experiment.gate)


def _describe_baseline(run: Path | None, kind: str | None) -> dict | None:
    return None if run is None else {"run": run.name, "path": str(run), "kind": kind}


# -- data -------------------------------------------------------------------------------------
def data_figures(dataset_dir: Path, baseline_dataset: Path | None) -> dict[str, float]:
    """DATA_FIGURES of a dataset version (new_* against `baseline_dataset`, when given)."""
    import polars as pl

    info = read_json(Path(dataset_dir) / "dataset.json") or {}
    counts, weights = info.get("counts", {}), info.get("weight_range") or {}
    figures = {name: counts.get(name) for name in ("users", "items", "interactions", "events")}
    figures.update(weight_median=weights.get("median"), weight_max=weights.get("max"))
    if baseline_dataset is not None:
        for kind in ("users", "items"):
            now = pl.read_parquet(Path(dataset_dir) / f"{kind}.parquet", columns=[f"{kind[:-1]}_id"])
            then = pl.read_parquet(Path(baseline_dataset) / f"{kind}.parquet", columns=[f"{kind[:-1]}_id"])
            column = now.columns[0]
            new = now.filter(~pl.col(column).cast(pl.String).is_in(then[column].cast(pl.String).implode()))
            figures[f"new_{kind}"] = new.height / max(now.height, 1)
    return {k: (float(v) if v is not None else None) for k, v in figures.items()}


def _baseline_dataset(run: Path | None) -> Path | None:
    if run is None:
        return None
    ingest = ((read_json(run / "manifest.json") or {}).get("stages") or {}).get("ingest") or {}
    folder = Path(ingest["dataset"]) if ingest.get("dataset") else None
    return folder if folder is not None and (folder / "dataset.json").is_file() else None


def check_data(env: StageEnv, dataset_dir: Path) -> Mapping | None:
    """The data conditions' verdict (None when the gate has none)."""
    wanted = [c for c in conditions(env) if c.is_data]
    if not wanted:
        return None
    run, kind = baseline_run(env)
    baseline_dataset = _baseline_dataset(run)
    now = data_figures(dataset_dir, baseline_dataset)
    then = data_figures(baseline_dataset, None) if baseline_dataset is not None else {}
    checks = []
    for condition in wanted:
        value, base = now.get(condition.measure), then.get(condition.measure)
        check = {"condition": condition.text, "value": value, "baseline": base,
                 "threshold": condition.threshold(base)}
        if condition.measure.startswith("new_") and baseline_dataset is None:
            check.update(passed=True, note="no baseline dataset yet: not checked")
        elif check["threshold"] is None:
            check.update(passed=True, note="no baseline yet: not checked")
        elif value is None:
            check.update(passed=True, note=f"the dataset records no {condition.measure}: not checked")
        else:
            check.update(passed=condition.holds(value, base))
            if not check["passed"]:
                check["message"] = (f"{condition.measure} {format_number(value)} {_negated(condition.op)} "
                                    f"{condition.describe_threshold(base)}"
                                    + (f" = {format_number(check['threshold'])}" if condition.relative else ""))
        checks.append(check)
    return _verdict("data", checks, run, kind, figures=now)


# -- metrics ----------------------------------------------------------------------------------
class BaselineDamaged(Exception):
    """A file of the baseline run is damaged or unreadable: it is never compared with."""


def _per_user(env: StageEnv, run: Path, model: str, column: str, damage_by_model: dict) -> dict | None:
    """A model's per-user values of `column` in a run folder (None when it has none): the
    baseline's checked against the store's record of them first, once a model
    (`damage_by_model` remembers; tonight's were just written); BaselineDamaged when they are
    not what was stored or cannot be read."""
    import polars as pl

    path = run / "per_user" / f"{model}.parquet"
    if not path.is_file():
        return None
    if Path(run).resolve() != Path(env.run.path).resolve():
        if model not in damage_by_model:
            stage = ((read_json(run / "manifest.json") or {}).get("stages") or {}).get(f"evaluate/{model}") or {}
            damage_by_model[model] = env.store.damaged_in(run, stage["artifact"]) if stage.get("artifact") else []
        if damage_by_model[model]:
            raise BaselineDamaged(str(damage_by_model[model][0]))
    try:
        if not {column, "user_id"} <= set(pl.read_parquet_schema(path)):
            return None
        frame = pl.read_parquet(path, columns=["user_id", column])
    except Exception as error:  # noqa: BLE001 - polars raises several kinds for a damaged file
        raise BaselineDamaged(f"{path}: unreadable ({type(error).__name__}: {error})") from None
    return {"user_id": frame["user_id"].cast(pl.String).to_numpy(), "values": frame[column].to_numpy()}


DAMAGED_ADVICE = "`recsys runs verify --all` lists the damage; `recsys runs pin RUN` chooses another baseline"


def _split_fingerprint(run: Path) -> str | None:
    protocol = (read_json(run / "metrics.json") or {}).get("protocol") or {}
    return (protocol.get("split") or {}).get("fingerprint")


def compare_with_baseline(env: StageEnv, summaries: Mapping[str, Mapping], split_fingerprint: str) -> Mapping:
    """Every model's headline metric and every metric a condition names, tonight against the
    baseline run: {"baseline": ..., "comparisons": {model: {metric: comparison}}}. Empty
    when there is no baseline."""
    from recsys_cli.evaluation.baseline import compare_to_baseline

    run, kind = baseline_run(env)
    if run is None:
        return frozen_mapping()
    baseline_metrics = (read_json(run / "metrics.json") or {}).get("models") or {}
    same_split = _split_fingerprint(run) == split_fingerprint
    wanted = {(name, env.headline_metric()) for name in summaries}
    wanted |= {(c.model, c.measure) for c in conditions(env) if not c.is_data and c.model in summaries}
    out: dict[str, dict] = {}
    damage_by_model: dict[str, list] = {}
    for model, metric in sorted(wanted):
        now, then = summaries[model].get(metric), (baseline_metrics.get(model) or {}).get(metric)
        if now is None or then is None:
            continue
        try:
            tonight_users = _per_user(env, env.run.path, model, metric, damage_by_model)
            baseline_users = _per_user(env, run, model, metric, damage_by_model)
        except BaselineDamaged as damaged:
            out.setdefault(model, {})[metric] = {"tonight": now, "baseline": then, "difference": now - then,
                                                 "ci95": None, "paired": False, "damaged": str(damaged),
                                                 "how": f"not compared per user: {damaged}"}
            continue
        if tonight_users is None or baseline_users is None:  # a catalogue figure (coverage): the values alone
            comparison = {"tonight": now, "baseline": then, "difference": now - then, "ci95": None,
                          "paired": False, "how": "no per-user values: the difference of the two figures"}
        else:
            comparison = compare_to_baseline(tonight_users, baseline_users, same_test=same_split,
                                             seed=env.seeds["bootstrap"])
        out.setdefault(model, {})[metric] = comparison
    return frozen_mapping({"baseline": _describe_baseline(run, kind), "same_split": same_split, "comparisons": out})


def metric_verdict(env: StageEnv, summaries: Mapping[str, Mapping], baseline: Mapping) -> Mapping | None:
    """The metric conditions' verdict (None when the gate has none)."""
    from recsys_cli.evaluation.baseline import compare_to_baseline

    wanted = [c for c in conditions(env) if not c.is_data]
    if not wanted:
        return None
    run = Path(baseline["baseline"]["path"]) if baseline.get("baseline") else None
    # compare_with_baseline checked every compared model's stored values (a damaged one is
    # marked in its comparisons and never read below)
    damage_by_model = {model: [] for model in baseline.get("comparisons") or {}}
    checks = []
    for condition in wanted:
        value = (summaries.get(condition.model) or {}).get(condition.measure)
        compared = ((baseline.get("comparisons") or {}).get(condition.model) or {}).get(condition.measure)
        base = compared["baseline"] if compared else None
        check = {"condition": condition.text, "model": condition.model, "metric": condition.measure, "value": value,
                 "baseline": base, "threshold": condition.threshold(base)}
        if value is None:
            check.update(passed=False, message=f"{condition.model} has no {condition.measure} in this run")
        elif check["threshold"] is None:
            check.update(passed=True, note="no baseline yet: not checked" if run is None
                         else f"the baseline run has no {condition.model} {condition.measure}: not checked")
        elif compared and compared.get("damaged") and condition.relative:  # never judged on a damaged record
            check.update(passed=False, message=f"{condition.model} {condition.measure}: the baseline run's per-user "
                                               f"values are damaged ({compared['damaged']}); {DAMAGED_ADVICE}")
        else:
            tonight_users = _per_user(env, env.run.path, condition.model, condition.measure, damage_by_model)
            baseline_users = (_per_user(env, run, condition.model, condition.measure, damage_by_model)
                              if condition.relative else None)
            if tonight_users is not None and (baseline_users is not None or not condition.relative):
                tested = compare_to_baseline(tonight_users, baseline_users or tonight_users, scale=condition.scale,
                                             offset=condition.offset, same_test=baseline.get("same_split", False)
                                             if condition.relative else True, seed=env.seeds["bootstrap"])
                check.update(difference=tested["difference"], ci95=tested["ci95"], how=tested["how"])
                low, high = tested["ci95"]
                violated = high < 0 if condition.higher_is_wanted else low > 0
            else:
                check.update(how="the figure alone (no per-user values)")
                violated = not condition.holds(value, base)
            check["passed"] = not violated
            if violated:
                check["message"] = (f"{condition.model} {condition.measure} {value:.4f} {_negated(condition.op)} "
                                    f"{condition.describe_threshold(base)}")
            elif not condition.holds(value, base):
                check["note"] = "misses the threshold in point estimate, but within noise (its interval reaches it)"
        checks.append(check)
    return _verdict("metrics", checks, run, baseline.get("baseline", {}).get("kind") if run else None)


def _negated(op: str) -> str:
    return {">=": "<", ">": "<=", "<=": ">", "<": ">="}[op]


def _verdict(kind: str, checks: list[dict], run: Path | None, how: str | None, **extra) -> Mapping:
    failed = [c["message"] for c in checks if not c["passed"]]
    return frozen_mapping({"kind": kind, "passed": not failed, "failed": failed, "checks": checks,
                           "baseline": _describe_baseline(run, how), **extra})
