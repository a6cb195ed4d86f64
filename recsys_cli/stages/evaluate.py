"""The evaluate stage: a trained model's top-k on a split's test users -> per_user/<name>.parquet
and a `ModelEvaluation` (summary, intervals, breakdown); the untuned default beside a tuned
model; the cold users once; and the significantly best model per column.

Every evaluation goes through the run's backend (`env.backend.evaluate`), so local and Ray
runs compute the same records by the same call."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from recsys_cli.data.split_folder import SplitData
from recsys_cli.stages.env import StageEnv
from recsys_cli.stages.records import DefaultEvaluation, ModelEvaluation, ModelSpec, TrainedModel, frozen_mapping


def per_user_path(prefix: str, name: str) -> str:
    """Where a model's per-user test metrics live in a run folder (`prefix`: "" or "repeats/R/")."""
    return f"{prefix}per_user/{name}.parquet"


def per_user_values(run_path: Path, name: str | list[str], prefixes: list[str],
                    columns: list[str] | None = None) -> dict:
    """metric@k -> a model's per-user values from the per_user files of `prefixes` together
    (disjoint users: the folds of a split), in user order; `name` may name each prefix's file
    apart; `columns` (default: every metric@k column) that a file lacks are left out."""
    import polars as pl

    names = [name] * len(prefixes) if isinstance(name, str) else name
    frames = [pl.read_parquet(run_path / per_user_path(prefix, file)) for file, prefix in zip(names, prefixes)]
    frame = pl.concat(frames, how="diagonal").sort("user_idx")
    wanted = columns if columns is not None else [c for c in frame.columns if "@" in c]
    return {c: frame[c].to_numpy() for c in wanted if c in frame.columns}


def _backend_evaluate(env: StageEnv, model, split: SplitData, test, history, *, filter_seen: bool, fold_in: bool,
                      keep: int = 0, progress=None):
    metrics = env.experiment.metrics
    return env.backend.evaluate(model, split.train, test, history, metrics.k, metrics.names, filter_seen=filter_seen,
                                fold_in=fold_in, keep=keep, seed=env.seeds["bootstrap"], progress=progress)


def evaluate(env: StageEnv, trained: TrainedModel, split: SplitData) -> ModelEvaluation:
    """Score `trained` on the split's test users."""
    from recsys_cli.core.atomic import fingerprint as fp
    from recsys_cli.core.atomic import write_parquet
    from recsys_cli.evaluation.breakdown import breakdown
    from recsys_cli.report.tables import with_user_ids

    spec, metrics = trained.spec, env.experiment.metrics
    # "ids+breakdown": per_user files carry user ids and records the breakdown (older ones are redone).
    key = fp([trained.key, env.config["metrics"], spec.filter_seen, "ids+breakdown"])
    path = per_user_path(env.prefix, spec.name)
    export = env.experiment.export
    keep = export.recommendations if export.users == "test" and not env.prefix else 0  # export: first split
    fresh = {}

    def work(record):
        advance = env.reporter.progress(f"evaluate {spec.name}", len(split.test_users))
        result = _backend_evaluate(env, trained.get(), split, split.test, split.history, filter_seen=spec.filter_seen,
                                   fold_in=split.fold_in, keep=max(keep, max(metrics.k)),  # the breakdown ranks held-out items
                                   progress=advance)
        env.reporter.done()
        write_parquet(env.run.path / path, with_user_ids(result.per_user, env.dataset.users))
        record.update(summary=result.summary, intervals=result.intervals, test_users=len(result.users),
                      breakdown=breakdown(result.per_user, result.top_ids, result.users, split.train, split.test,
                                          split.history, metrics.k))
        if keep:  # the export of the same users' top-N needs no second pass
            fresh["top_lists"] = (result.top_ids[:, :keep], result.top_scores[:, :keep])

    record = env.timed(f"{env.prefix}evaluate/{spec.name}", key, [path], work)
    return ModelEvaluation(spec.name, key, frozen_mapping(record["summary"]),
                           frozen_mapping({k: tuple(v) for k, v in record["intervals"].items()}),
                           frozen_mapping(record.get("breakdown")), record.get("test_users", 0), fresh.get("top_lists"))


def evaluate_default(env: StageEnv, default: ModelSpec, tuned: ModelSpec, tuned_evaluation: ModelEvaluation,
                     split: SplitData) -> DefaultEvaluation:
    """The untuned parameters (`default`), trained on train and scored on test once, beside
    the tuned best: a search that only wins on validation (overfitting it) shows here. Its
    per-user values go to per_user/<name>@default.parquet, for the paired tuned-vs-default
    comparison over repeats and folds; when the search kept the defaults the model is the
    same one and its per_user file is the tuned model's."""
    from recsys_cli.core.atomic import fingerprint as fp
    from recsys_cli.core.atomic import write_parquet
    from recsys_cli.report.tables import with_user_ids

    if default.params == tuned.params:  # the search kept the default: same model, same scores
        return DefaultEvaluation(default.name, tuned_evaluation.summary, same_as_best=True)
    train_key = default.key(split.info["fingerprint"], env.experiment.seed, env.experiment.threads)
    key = fp([train_key, env.config["metrics"], default.filter_seen, "per_user"])
    path = per_user_path(env.prefix, f"{default.name}@default")

    def work(record):
        model = env.build_model(default)
        model.fit(split.train)
        result = _backend_evaluate(env, model, split, split.test, split.history, filter_seen=default.filter_seen,
                                   fold_in=split.fold_in)
        write_parquet(env.run.path / path, with_user_ids(result.per_user, env.dataset.users))
        record.update(summary=result.summary, intervals=result.intervals, params=default.params.model_dump())

    record = env.timed(f"{env.prefix}evaluate/{default.name}@default", key, [path], work)
    return DefaultEvaluation(default.name, frozen_mapping(record["summary"]), same_as_best=False)


def tuned_and_default(run_path: Path, splits, pooled: bool) -> dict[str, dict]:
    """Per tuned model, what evaluation/repeats.tuned_against_default pairs: its tuning
    metric on every split tuned and default, whether each split kept the defaults, and
    with `pooled` (user folds) the per-user tuned - default over all folds."""
    compared = {}
    for name, tuned in splits[0].tuned.items():
        metric, prefixes = tuned.metric, [s.prefix for s in splits]
        kept = [s.defaults[name].same_as_best for s in splits]
        difference = None
        if pooled:
            default_files = [name if same else f"{name}@default" for same in kept]
            difference = (per_user_values(run_path, name, prefixes, [metric])[metric]
                          - per_user_values(run_path, default_files, prefixes, [metric])[metric])
        compared[name] = {"metric": metric, "tuned": [s.evaluations[name].summary[metric] for s in splits],
                          "default": [s.defaults[name].summary[metric] for s in splits], "kept": kept,
                          "pooled": difference}
    return compared


def evaluate_cold(env: StageEnv, split: SplitData) -> Mapping | None:
    """Test users with no train history (a temporal split's test_cold part): every model
    falls back to popularity for them, so they are evaluated once, on their own rows."""
    from recsys_cli.core.atomic import fingerprint as fp
    from recsys_cli.evaluation.breakdown import popularity_fallback

    if not split.has("test_cold") or split.read_part("test_cold").nnz == 0:
        return None

    def work(record):
        test_cold = split.read_part("test_cold")
        model, history = popularity_fallback(split.train, test_cold)
        result = _backend_evaluate(env, model, split, test_cold, history, filter_seen=True, fold_in=False)
        record.update(summary=result.summary, intervals=result.intervals, test_users=len(result.users),
                      ranking="popularity fallback (train users per item), the same for every model")

    key = fp([split.info["fingerprint"], env.config["metrics"], env.seeds["bootstrap"]])
    return env.timed("evaluate/cold-users", key, [], work)


def significant_best(env: StageEnv, evaluations: Mapping[str, ModelEvaluation]) -> Mapping:
    """metric@k -> the model significantly better than every other on per-user test values;
    a stored stage, keyed by the evaluations it reads (an unchanged re-run tests nothing)."""
    from recsys_cli.core.atomic import fingerprint as fp

    key = fp([[name, evaluation.key] for name, evaluation in evaluations.items()] + ["t"])

    def work(record):
        from recsys_cli.evaluation.metrics import lower_is_better
        from recsys_cli.evaluation.significance import significant_best_per_column

        columns = list(dict.fromkeys(c for e in evaluations.values() for c in e.summary))
        per_user = {name: per_user_values(env.run.path, name, [""], columns) for name in evaluations}
        # The t-test: O(users) per comparison, over every column and model (compare's
        # permutation test costs resamples x users per pair).
        record["best"] = significant_best_per_column(per_user, columns, lower_is_better(), test="t")

    return frozen_mapping(env.timed("evaluate/significance", key, [], work)["best"])
