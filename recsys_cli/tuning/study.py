"""Optuna studies that maximise a metric (MRR@100 by default) on the validation split.

- Trials fit on `valid_train` and are scored on `valid`; test data is never opened here.
- The study is Optuna RDB storage on SQLite under `runs/<experiment>/tune/<model>/study.db`,
  named after the experiment, the model and a key of what defines the search (split, space,
  metric, seed, pruner), so the same command resumes it: `trials` is the number of finished
  trials the study should reach. Trials left RUNNING by a killed process are marked FAIL
  when the study reopens (the experiment lock guarantees nobody else is running them).
- The sampler is TPE, seeded per session (tuning/sessions.py: a resumed study never replays
  its proposals, and its time is every session's). The model's parameters from the config
  (or the model's defaults) are enqueued as trial 0 and are what the study hands on unless
  the best trial beats them on validation beyond noise (tuning/selection.py).
- Iterative models (als, ials, bpr, lmf) report the metric every `report_every` iterations
  through implicit's fit callback, and a median or Hyperband pruner stops hopeless trials.
  Reports are keyed by the iteration count, so a trial is only ever compared with the others
  at the same number of iterations; strongly regularised configurations converge slowly, so
  no trial is pruned before `warmup_iterations` (a quarter of the space's maximum, at least
  10) and the median needs 8 finished trials first.
- With `jobs` > 1 trials run in threads (implicit releases the GIL) and the cores are split
  between trials and implicit's own threads.
- With `extra_folds` (`tune: {folds: 3}`) a trial fits and scores every fold and the
  objective is the mean; pruning watches fold 0 only. Each trial records its spread: the
  sd over folds, or with one fold a 95% bootstrap interval over the validation users.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from recsys_cli.core import interrupts
from recsys_cli.models.registry import build_model, model_class
from recsys_cli.tuning import selection, sessions
from recsys_cli.tuning.outcome import TuneOutcome, outcome
from recsys_cli.tuning.space import is_integer_param, space_for  # noqa: F401  (space_for: the tuner's API)


def storage_url(path: Path) -> str:
    """The SQLite URL of a study file, built from the quoted absolute path: `?`, `%`, `#`
    or `{` in a folder name stay part of the file name instead of becoming URL syntax."""
    from urllib.parse import quote

    return "sqlite:///" + quote(str(Path(path).resolve()), safe="/")


def suggest(trial, space: dict, params_cls) -> dict[str, Any]:
    params = {}
    for name, spec in space.items():
        if spec.choices is not None:
            params[name] = trial.suggest_categorical(name, spec.choices)
        elif is_integer_param(params_cls, name, spec):
            params[name] = trial.suggest_int(name, int(spec.low), int(spec.high), log=spec.log)
        else:
            params[name] = trial.suggest_float(name, float(spec.low), float(spec.high), log=spec.log)
    return params


def include_start(space: dict, start: dict) -> dict:
    """Widen each range (or extend each choice list) to contain the starting parameters, so
    that trial 0 — the config's own parameters — is a valid point of the space."""
    widened = {}
    for name, spec in space.items():
        value = start.get(name)
        if value is None:
            widened[name] = spec
        elif spec.choices is not None:
            widened[name] = spec if value in spec.choices else spec.model_copy(update={"choices": [*spec.choices, value]})
        else:
            widened[name] = spec.model_copy(update={"low": min(spec.low, value), "high": max(spec.high, value)})
    return widened


def _max_iterations(space: dict, base) -> int:
    spec = space.get("iterations")
    if spec is None:
        return getattr(base, "iterations", 1)
    return int(max(spec.choices)) if spec.choices is not None else int(spec.high)


def warmup_iterations(report_every: int, max_iterations: int) -> int:
    """Iterations before any pruning: a quarter of the most a trial may run, at least 10 and
    at least one report."""
    return max(report_every, 10, max_iterations // 4)


def _pruner(kind: str, report_every: int, max_iterations: int):
    import optuna

    warmup = warmup_iterations(report_every, max_iterations)
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=8, n_warmup_steps=warmup)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=warmup, max_resource=max(max_iterations, warmup))
    return optuna.pruners.NopPruner()


def open_storage(location):
    """Optuna storage: a SQLite file (`*.db`), an Optuna journal file (`*.journal`, which
    several processes and hosts on a shared file system can use at once), or an RDB URL."""
    import optuna

    if isinstance(location, str) and "://" in location:
        return optuna.storages.RDBStorage(location)
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".journal":
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    return optuna.storages.RDBStorage(storage_url(path))


def _threads_per_trial(threads: int, jobs: int) -> int:
    cores = threads or os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


def run_study(
    *, model_type: str, base_params: dict, block, space: dict, storage_path: Path, study_name: str,
    validation: tuple, filter_seen: bool, seed: int, threads: int, jobs: int = 1,
    trials: int | None = None, timeout: float | None = None,
    on_trial: Callable[[int, float | None], None] | None = None,
    build_options: dict | None = None, optimize: Callable | None = None, extra_folds: list[tuple] = (),
    confirm_folds: Callable[[int], list[tuple]] | None = None,
) -> TuneOutcome:
    """`build_options` are build_model's dataset options (items, rated, use_weights).
    `optimize(study, objective, suggest, **study.optimize's options)`, when given, runs the
    trials instead of study.optimize (the Ray backend: one task per trial). `confirm_folds(n)`
    draws validation folds 1..n-1 for confirming the keep-defaults test (tuning/selection.py);
    None where the split has no other folds (a time-based validation part)."""
    import optuna
    from optuna.trial import TrialState

    from recsys_cli.evaluation.evaluate import evaluate

    # ERROR, not WARNING: Optuna logs every failed trial with its traceback, a Ctrl-C too; the
    # CLI says "interrupted" in one line and the reasons stay in the study (fail_reason).
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    cls = model_class(model_type)
    valid_train = validation[0]
    metric_name, k = block.metric.split("@")
    storage = open_storage(storage_path)
    start = cls.Params.model_validate(base_params).model_dump()
    space = include_start(space, start)
    defaults = {name: start[name] for name in space if name in start}
    max_iterations = _max_iterations(space, cls.Params.model_validate(base_params))
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction="maximize", load_if_exists=True,
        pruner=_pruner(block.pruner if cls.iterative else "none", block.report_every, max_iterations),
    )
    for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_state_values(stale._trial_id, state=TrialState.FAIL)
    study.sampler = optuna.samplers.TPESampler(seed=sessions.sampler_seed(seed, len(study.trials)))
    if not study.trials:
        study.enqueue_trial(defaults)
        study.set_user_attr("metric", block.metric)  # for the plots' labels
        study.set_user_attr("model", model_type)
    clock = sessions.SessionClock(study)
    per_trial_threads = _threads_per_trial(threads, jobs)

    def fit(params: dict, train):
        model = build_model(model_type, params, seed=seed, threads=per_trial_threads, **(build_options or {}))
        model.fit(train)
        return model

    def scored(model, fold: tuple = validation, interval: bool = False) -> tuple[float, list | None, np.ndarray | None]:
        """The fold's metric, its 95% bootstrap interval over the fold's users if asked, and
        the per-user values (None for a metric without them, such as coverage)."""
        fold_train, fold_valid, fold_history, fold_fold_in = fold
        result = evaluate(model, fold_train, fold_valid, fold_history, [int(k)], [metric_name],
                          filter_seen=filter_seen, fold_in=fold_fold_in, seed=seed, bootstrap=interval)
        bounds = result.intervals.get(block.metric)
        per_user = result.per_user[block.metric].to_numpy() if block.metric in result.per_user.columns else None
        return (result.summary[block.metric], None if bounds is None else [float(v) for v in bounds], per_user)

    def objective(trial) -> float:
        proposed = suggest(trial, space, cls.Params)
        twin = sessions.duplicate_of(trial.study, trial.number, proposed)
        if twin is not None:  # a finished point: not fitted again
            trial.set_user_attr("duplicate_of", twin)
            raise optuna.TrialPruned(f"the parameters of trial {twin}")
        params = {**base_params, **proposed}
        results = [fit_first_fold(trial, params)]
        results += [scored(fit(params, fold[0]), fold) for fold in extra_folds]
        if extra_folds:
            trial.set_user_attr("fold_values", [r[0] for r in results])
        value = float(np.mean([r[0] for r in results]))
        if all(r[2] is not None for r in results) and (trial.number == 0 or _at_least_best(trial.study, value)):
            trial.set_user_attr(selection.PER_USER_ATTR, selection.encode(np.concatenate([r[2] for r in results])))
        return value

    def final_score(trial, model) -> tuple:
        """The fold-0 score; with a single fold, also its bootstrap interval over users."""
        result = scored(model, interval=not extra_folds)
        if result[1] is not None:
            trial.set_user_attr("ci95", result[1])
        return result

    def fit_first_fold(trial, params) -> tuple:
        if not cls.iterative or block.pruner == "none":
            return final_score(trial, fit(params, valid_train))
        model = build_model(model_type, params, seed=seed, threads=per_trial_threads, **(build_options or {}))
        planned = model.params.iterations
        trial.set_user_attr("iterations_planned", planned)

        def callback(iteration, *_):
            step = iteration + 1
            trial.set_user_attr("iterations_done", step)
            if step % block.report_every == 0 and step < planned:
                trial.report(scored(model)[0], step)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        model.fit(valid_train, callback=callback)
        return final_score(trial, model)

    def progress(study_, trial) -> None:
        clock.record()
        if interrupts.pending() is not None:  # a Ctrl-C that landed where Python drops it
            raise interrupts.pending()
        if on_trial is not None:
            on_trial(1, study_.best_value if _has_complete(study_) else None)

    target = trials if trials is not None else block.trials
    budget = timeout or block.timeout
    catch = (ArithmeticError, np.linalg.LinAlgError)

    def run(n_trials: int, timeout: float | None, n_jobs: int) -> None:
        try:
            if optimize is None:
                study.optimize(objective, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, callbacks=[progress],
                               catch=catch)
            else:
                optimize(study, objective, lambda trial: suggest(trial, space, cls.Params), n_trials=n_trials,
                         timeout=timeout, n_jobs=n_jobs, callbacks=[progress], catch=catch)
        except Exception as error:
            interrupt = _interrupt_behind(error)
            if interrupt is not None:
                raise interrupt from None
            raise
        if interrupts.pending() is not None:
            raise interrupts.pending()

    def finished() -> int:
        return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))

    if on_trial is not None and finished():  # a resumed study's bar starts at what is done
        on_trial(min(finished(), target), study.best_value if _has_complete(study) else None)

    # Enqueued trials run alone first: on SQLite (no row locks) two threads could both pop
    # the same waiting trial.
    waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    if hasattr(cls, "expect_fits"):  # e.g. EASE: one Gram decomposition for all the trials' l2 values
        cls.expect_fits(valid_train, target - finished())
    if waiting and finished() < target:
        run(min(waiting, target - finished()), budget, 1)
    left = None if budget is None else budget - clock.session_seconds
    if finished() < target and (left is None or left > 0):
        run(target - finished(), left, jobs)
    stopped = sessions.stopped_by(finished(), target, budget, clock.session_seconds)

    def per_user(params: dict, trial, folds: list[tuple]) -> np.ndarray | None:
        """A trial's stored per-user validation values, or (no trial, or one of a study begun
        before they were stored) recomputed on `folds`."""
        text = None if trial is None else trial.user_attrs.get(selection.PER_USER_ATTR)
        if text is not None:
            return selection.decode(text)
        values = [scored(fit({**base_params, **params}, fold[0]), fold)[2] for fold in folds]
        return None if any(v is None for v in values) else np.concatenate(values)

    chosen = selection.select(study, defaults, per_user, [validation, *extra_folds], confirm_folds,
                              clock.total_seconds)
    clock.stop()
    return outcome(study, clock, chosen, folds=1 + len(extra_folds), target=target, stopped_by=stopped)


def _at_least_best(study, value: float) -> bool:
    """Whether `value` is at least every completed trial's (True before any completed)."""
    return not _has_complete(study) or value >= study.best_value


def _interrupt_behind(error: BaseException) -> BaseException | None:
    """The Ctrl-C (or SIGTERM) an error was raised while handling, if any. A KeyboardInterrupt
    that lands while Optuna records a trial surfaces from its `finally` block as an
    UnboundLocalError; the user pressed Ctrl-C, and that is what must be reported."""
    seen = error.__context__
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__context__
    return None


def _has_complete(study) -> bool:
    from optuna.trial import TrialState

    return bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def study_importances(study) -> tuple[dict[str, float] | None, str]:
    """fANOVA importances (Optuna's default evaluator, seeded) over the completed trials."""
    import warnings

    import optuna
    from optuna.importance import FanovaImportanceEvaluator

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    varied = {name for t in complete for name in t.params
              if len({repr(u.params.get(name)) for u in complete}) > 1}
    if len(complete) < 3 or len(varied) < 2:
        return None, (f"{len(complete)} completed trial(s) varying {len(varied)} parameter(s): "
                      "importances need at least 3 trials and 2 varied parameters")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = optuna.importance.get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    return {k: float(v) for k, v in values.items()}, ""


def study_space(study) -> dict[str, dict]:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    space: dict[str, dict] = {}
    for trial in study.trials:
        for name, dist in trial.distributions.items():
            kind = ("categorical" if isinstance(dist, CategoricalDistribution)
                    else "int" if isinstance(dist, IntDistribution) else "float")
            space.setdefault(name, {"kind": kind, "log": bool(getattr(dist, "log", False))})
    return space


