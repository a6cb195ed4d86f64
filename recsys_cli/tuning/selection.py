"""Defaults kept unless beaten: which parameters a study hands to training.

Trial 0 of every study is the model's defaults (the config's parameters). The best trial
replaces them only when it beats them on validation beyond noise: a one-sided paired t-test
over the validation users (with `tune: {folds: F}`, the users of every fold pooled, each
(fold, user) one pair) of the best trial's per-user metric minus the defaults', at 5%. That
is the same as the one-sided 95% lower bound of the mean difference lying above 0. Otherwise
the study keeps the defaults and says why: the model trained is then the default one.

The per-user validation values of a trial are kept with the trial (a user attr, float32 as
base64: 4 bytes a user, so a study's storage stays small) when the trial is trial 0 or at
least as good as every trial finished before it, so the defaults and the final best always
have theirs without storing every trial; a study begun before they were stored has the two
recomputed at the end.

Confirming on more folds. With one validation part the test sees one draw of validation
users; scoring the defaults and the best on two more seeded folds (data/folds.py) triples
the pairs, at the price of 2 x 2 = 4 extra fits. Measured (benchmarks/confirm_cost.py,
benchmarks/README.md "Nested tuning"): drawing the two folds is nothing (0.03 s on
ml-latest-small, 0.6 s on the ML-1M shape) and the four fits cost 3.6 to 4.9 trials of EASE
and iALS-Rendle; so it is cheap only beside a long study, and whether it is cheap is
measured per study: its slowest finished trial stands for one fit on a new fold, and the
study confirms only when the 4 fits would cost at most a quarter of the time it has spent
(a study of like-priced trials confirms from about 16 trials on; a few-trial study decides
on its one part). The estimate is low for EASE once its Gram decomposition is cached (a
trial is then a rescale and one product, a fit on a new fold a full inverse), which the
quarter absorbs. The record says what was estimated and decided (`confirm`);
benchmarks/nested_tuning.py prints it per fold.
"""

from __future__ import annotations

import base64

import numpy as np

ALPHA = 0.05
CONFIRM_FOLDS = 3  # the validation part plus two seeded folds
CONFIRM_SHARE = 0.25  # of the study's time, the most the confirming fits may cost
PER_USER_ATTR = "valid_per_user"
RULE = ("the best trial replaces the defaults only if it beats them on validation: one-sided paired t-test "
        "over the validation users (best - defaults), p < 0.05")


def encode(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)


def confirm_cost(fit_seconds: float) -> float:
    """Seconds the confirming fits are expected to take: the defaults and the best on each extra fold."""
    return 2 * (CONFIRM_FOLDS - 1) * fit_seconds


def worth_confirming(fit_seconds: float | None, study_seconds: float) -> bool:
    if fit_seconds is None:
        return False
    return confirm_cost(fit_seconds) <= CONFIRM_SHARE * study_seconds


def one_sided_paired_t(diff: np.ndarray, alpha: float = ALPHA) -> dict:
    """Mean of `diff`, its one-sided (1 - alpha) lower bound and the p-value of mean > 0."""
    from scipy.stats import t

    diff = np.asarray(diff, dtype=np.float64)
    n, mean = len(diff), float(diff.mean()) if len(diff) else 0.0
    sd = float(np.std(diff, ddof=1)) if n > 1 else 0.0
    if n < 2 or sd == 0.0:  # no spread: sure when every pair moved the same nonzero way
        p = 0.0 if n >= 1 and mean > 0 else 1.0
        return {"difference": mean, "lower_bound_95": mean, "p_value": p, "users": n}
    error = sd / np.sqrt(n)
    return {"difference": mean, "lower_bound_95": mean - float(t.ppf(1 - alpha, n - 1)) * error,
            "p_value": float(t.sf(mean / error, n - 1)), "users": n}


def decide(default_values: np.ndarray | None, best_values: np.ndarray | None, *, best_is_default: bool,
           folds: int, alpha: float = ALPHA) -> dict:
    """The verdict: whether the defaults are kept, why, and the test behind it. Without
    per-user values for either (the defaults failed, or the metric has none, as coverage)
    there is nothing to pair and the best trial is used, as the reason says."""
    base = {"rule": RULE, "folds": folds}
    if best_is_default:
        return {**base, "kept_defaults": True, "reason": "the defaults are the best trial"}
    if default_values is None or best_values is None:
        return {**base, "kept_defaults": False,
                "reason": "no per-user validation values to pair for the defaults (they failed, or the metric "
                          "has none), so the best trial is used"}
    test = one_sided_paired_t(best_values - default_values, alpha)
    beaten = test["p_value"] < alpha
    where = f"{test['users']:,} validation users" + (f" over {folds} folds" if folds > 1 else "")
    numbers = (f"best - defaults {test['difference']:+.4f}, one-sided 95% lower bound "
               f"{test['lower_bound_95']:+.4f}, p {test['p_value']:.3g} over {where}")
    reason = (f"the best trial beats the defaults beyond noise ({numbers})" if beaten else
              f"the best trial does not beat the defaults beyond noise ({numbers}): the defaults are kept")
    return {**base, "kept_defaults": not beaten, "reason": reason, **test}


def select(study, defaults: dict, per_user, folds: list[tuple], confirm_folds, study_seconds: float) -> dict:
    """The selection record of a finished study: the parameters to train (`params`), the
    best trial, and `decide`'s verdict on it against trial 0 (the defaults).

    `per_user(params, trial, folds)` gives a trial's per-user values on `folds`: the stored
    ones when `trial` has them, else recomputed. `confirm_folds(n)` draws validation folds
    1..n-1, None where there are no other folds."""
    from optuna.trial import TrialState

    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise RuntimeError("no trial completed; see log.txt")
    first, best = study.trials[0], study.best_trial
    found = {"best_trial": best.number, "best_trial_value": float(best.value), "best_trial_params": dict(best.params)}
    if best.number == first.number:
        return {**decide(None, None, best_is_default=True, folds=len(folds)), **found, "params": dict(defaults)}
    default_values = per_user(defaults, first, folds) if first.state == TrialState.COMPLETE else None
    best_values = per_user(best.params, best, folds)
    confirm = {}
    if len(folds) == 1 and confirm_folds is not None and default_values is not None and best_values is not None:
        slowest = max(t.duration.total_seconds() for t in complete if t.duration is not None)
        confirm = {"folds": CONFIRM_FOLDS, "estimated_seconds": round(confirm_cost(slowest), 3),
                   "study_seconds": round(study_seconds, 3),
                   "done": worth_confirming(slowest, study_seconds)}
        if confirm["done"]:
            more = confirm_folds(CONFIRM_FOLDS)
            default_values = np.concatenate([default_values, per_user(defaults, None, more)])
            best_values = np.concatenate([best_values, per_user(best.params, None, more)])
            folds = [*folds, *more]
    verdict = decide(default_values, best_values, best_is_default=False, folds=len(folds))
    params = dict(defaults) if verdict["kept_defaults"] else dict(best.params)
    return {**verdict, **found, **({"confirm": confirm} if confirm else {}), "params": params}
