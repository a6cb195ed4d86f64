"""The evaluate stage: a trained model's top-k on test -> per_user/<name>.parquet and its
summary, intervals and breakdown; the untuned default beside a tuned model; the cold users
once; and metrics.{csv,json} over every model (with the significantly best per column)."""

from __future__ import annotations

from pathlib import Path

from recsys_cli.data.split_folder import SplitData
from recsys_cli.stages.context import RunContext


def per_user_path(prefix: str, name: str) -> str:
    """Where a model's per-user test metrics live in a run folder (`prefix`: "" or "repeats/R/")."""
    return f"{prefix}per_user/{name}.parquet"


def per_user_values(run_path: Path, name: str, prefixes: list[str], columns: list[str] | None = None) -> dict:
    """metric@k -> a model's per-user values from the per_user files of `prefixes` together
    (disjoint users: the folds of a split), in user order; `columns` (default: every
    metric@k column) that a file lacks are left out."""
    import polars as pl

    frame = pl.concat([pl.read_parquet(run_path / per_user_path(prefix, name)) for prefix in prefixes],
                      how="diagonal").sort("user_idx")
    wanted = columns if columns is not None else [c for c in frame.columns if "@" in c]
    return {c: frame[c].to_numpy() for c in wanted if c in frame.columns}


def evaluate(ctx: RunContext, entry, trained, split: SplitData) -> None:
    """Score `trained` (a stages.train.TrainedModel) on the split's test users."""
    from recsys_cli.core.atomic import fingerprint as fp
    from recsys_cli.core.atomic import write_parquet
    from recsys_cli.evaluation.breakdown import breakdown
    from recsys_cli.report.tables import with_user_ids

    metrics = ctx.experiment.metrics
    # "ids+breakdown": per_user files carry user ids and records the breakdown (older ones are redone).
    key = fp([ctx.train_key(entry, split), ctx.config["metrics"], ctx.filter_seen(entry), "ids+breakdown"])
    path = per_user_path(ctx.prefix, entry.name)

    export = ctx.experiment.export
    keep = export.recommendations if export.users == "test" and not ctx.prefix else 0  # export: first split

    def work(record):
        advance = ctx.reporter.progress(f"evaluate {entry.name}", len(split.test_users))
        result = ctx.backend.evaluate(trained.get(), split.train, split.test, split.history, metrics.k, metrics.names,
                                      filter_seen=ctx.filter_seen(entry), fold_in=split.fold_in,
                                      keep=max(keep, max(metrics.k)),  # the breakdown ranks held-out items
                                      seed=ctx.seeds["bootstrap"], progress=advance)
        ctx.reporter.done()
        write_parquet(ctx.run.path / path, with_user_ids(result.per_user, ctx.dataset.users))
        record.update(summary=result.summary, intervals=result.intervals, test_users=len(result.users),
                      breakdown=breakdown(result.per_user, result.top_ids, result.users, split.train, split.test,
                                          split.history, metrics.k))
        if keep:  # the export of the same users' top-N needs no second pass
            ctx.test_top_lists[entry.name] = (result.top_ids[:, :keep], result.top_scores[:, :keep])

    record = ctx.timed(f"{ctx.prefix}evaluate/{entry.name}", key, [path], work)
    ctx.summaries[entry.name] = record["summary"]
    ctx.intervals[entry.name] = {k: tuple(v) for k, v in record["intervals"].items()}
    ctx.breakdowns[entry.name] = record.get("breakdown", {})


def evaluate_default(ctx: RunContext, entry, split: SplitData) -> None:
    """The untuned parameters, trained on train and scored on test once, beside the tuned
    best: a search that only wins on validation (overfitting it) shows here."""
    from recsys_cli.core.atomic import fingerprint as fp
    from recsys_cli.evaluation.evaluate import evaluate
    from recsys_cli.models.registry import build_model, model_class

    cls = model_class(entry.type)
    default = cls.Params.model_validate(entry.params)
    if default == ctx.params(entry):  # the search kept the default: same model, same scores
        ctx.default_tests[entry.name] = {"summary": ctx.summaries[entry.name], "same_as_best": True}
        return
    key = fp([ctx.train_key(entry, split, default), ctx.config["metrics"], ctx.filter_seen(entry)])

    def work(record):
        model = build_model(entry.type, default, seed=ctx.experiment.seed, threads=ctx.experiment.threads,
                            **ctx.build_options(entry))
        model.fit(split.train)
        metrics = ctx.experiment.metrics
        result = evaluate(model, split.train, split.test, split.history, metrics.k, metrics.names,
                          filter_seen=ctx.filter_seen(entry), fold_in=split.fold_in, seed=ctx.seeds["bootstrap"])
        record.update(summary=result.summary, intervals=result.intervals, params=default.model_dump())

    record = ctx.timed(f"evaluate/{entry.name}@default", key, [], work)
    ctx.default_tests[entry.name] = {"summary": record["summary"], "same_as_best": False}


def evaluate_cold(ctx: RunContext, split: SplitData) -> None:
    """Test users with no train history (a temporal split's test_cold part): every model
    falls back to popularity for them, so they are evaluated once, on their own rows."""
    from recsys_cli.core.atomic import fingerprint as fp
    from recsys_cli.evaluation.breakdown import evaluate_cold

    if not split.has("test_cold") or split.read_part("test_cold").nnz == 0:
        return
    metrics = ctx.experiment.metrics

    def work(record):
        result = evaluate_cold(split.train, split.read_part("test_cold"), metrics.k, metrics.names,
                               seed=ctx.seeds["bootstrap"])
        record.update(summary=result.summary, intervals=result.intervals, test_users=len(result.users),
                      ranking="popularity fallback (train users per item), the same for every model")

    key = fp([split.info["fingerprint"], ctx.config["metrics"], ctx.seeds["bootstrap"]])
    ctx.cold = ctx.timed("evaluate/cold-users", key, [], work)


def write_metrics(ctx: RunContext, split: SplitData) -> None:
    from recsys_cli.report.tables import metrics_frame, write_metrics

    ctx.best = significant_best(ctx)
    write_metrics(ctx.run.path, metrics_frame(ctx.summaries), ctx.intervals, ctx.protocol(split),
                  extra=ctx.breakdown_extra(split), tuning=ctx.tuning_summary(), best=ctx.best,
                  repeats=ctx.repeats)


def significant_best(ctx: RunContext) -> dict:
    """metric@k -> the model significantly better than every other on per-user test values;
    a stored stage, keyed by the evaluations it reads (an unchanged re-run tests nothing)."""
    from recsys_cli.core.atomic import fingerprint as fp

    stages = ctx.run.manifest["stages"]
    key = fp([[name, stages[f"evaluate/{name}"]["fingerprint"]] for name in ctx.summaries] + ["t"])

    def work(record):
        from recsys_cli.evaluation.significance import significant_best_per_column
        from recsys_cli.report.tables import LOWER_IS_BETTER

        columns = list(dict.fromkeys(key for summary in ctx.summaries.values() for key in summary))
        per_user = {name: per_user_values(ctx.run.path, name, [""], columns) for name in ctx.summaries}
        # The t-test: O(users) per comparison, over every column and model (compare's
        # permutation test costs resamples x users per pair).
        record["best"] = significant_best_per_column(per_user, columns, LOWER_IS_BETTER, test="t")

    return ctx.timed("evaluate/significance", key, [], work)["best"]
