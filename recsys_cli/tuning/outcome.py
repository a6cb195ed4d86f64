"""What a study hands back: `TuneOutcome`, the tune stage's record of a finished study (the
parameters to train, the validation values, counts, spreads, time, the keep-defaults
verdict, why it stopped) with its trials as a table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recsys_cli.tuning import sessions


@dataclass
class TuneOutcome:
    best_params: dict  # the parameters to train: the best trial's, or the defaults when kept
    best_value: float  # the best trial's validation value
    default_value: float | None
    complete: int
    pruned: int
    failed: int
    folds: int
    best_spread: dict  # {"fold_values", "sd"} over folds, or {"ci95": [low, high]} over users
    default_spread: dict
    study_seconds: float  # every session's wall time together (the stage record's `seconds` is this stage's)
    seconds_saved_by_pruning: float
    selection: dict  # tuning/selection.py: kept_defaults, rule, reason, the paired test
    stopped_by: str  # "trials", "timeout" or "failures" (tuning/sessions.py)
    target: int  # finished trials asked for
    sessions: int  # how many runs added to the study
    session_seconds: float  # this run's share of `study_seconds`
    duplicates: int  # proposals equal to a finished trial, not fitted again
    trials: Any = field(repr=False)  # polars DataFrame

    def record(self) -> dict:
        """The tune stage's record: every field but the trials, and `kept_defaults` on top."""
        return {**{k: v for k, v in self.__dict__.items() if k != "trials"},
                "kept_defaults": self.selection.get("kept_defaults")}


def _spread(trial) -> dict:
    """How sure the trial's objective is: the sd over folds, or the bootstrap interval."""
    values = trial.user_attrs.get("fold_values")
    if values and len(values) > 1:
        return {"fold_values": values, "sd": float(np.std(values, ddof=1))}
    interval = trial.user_attrs.get("ci95")
    return {"ci95": interval} if interval else {}


def outcome(study, clock, chosen: dict, *, folds: int, target: int, stopped_by: str) -> TuneOutcome:
    import polars as pl
    from optuna.trial import TrialState

    rows = []
    saved = 0.0
    for t in study.trials:
        duration = t.duration.total_seconds() if t.duration else None
        done, planned = t.user_attrs.get("iterations_done"), t.user_attrs.get("iterations_planned")
        if t.state == TrialState.PRUNED and duration and done and planned:
            saved += duration * (planned / done - 1)
        rows.append({"number": t.number, "state": t.state.name, "value": t.value, "duration_s": duration,
                     "iterations_done": done, "duplicate_of": t.user_attrs.get("duplicate_of"),
                     **{f"params_{k}": v for k, v in t.params.items()}})
    frame = pl.DataFrame(rows, infer_schema_length=None)
    first, best = study.trials[0], study.best_trial
    first_done = first.state == TrialState.COMPLETE
    return TuneOutcome(
        best_params=chosen["params"], best_value=float(best.value),
        default_value=float(first.value) if first_done else None,
        complete=sum(t.state == TrialState.COMPLETE for t in study.trials),
        pruned=sum(t.state == TrialState.PRUNED for t in study.trials),
        failed=sum(t.state == TrialState.FAIL for t in study.trials),
        folds=folds, best_spread=_spread(best), default_spread=_spread(first) if first_done else {},
        study_seconds=round(clock.total_seconds, 3), seconds_saved_by_pruning=round(saved, 3),
        selection={k: v for k, v in chosen.items() if k != "params"},
        stopped_by=stopped_by, target=target, sessions=int(study.user_attrs.get(sessions.SESSIONS_ATTR, 1)),
        session_seconds=round(clock.session_seconds, 3),
        duplicates=sum("duplicate_of" in t.user_attrs for t in study.trials), trials=frame,
    )
