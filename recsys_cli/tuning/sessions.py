"""A study added to by several sessions (the same command run again, or after a kill).

- The sampler: a TPE sampler seeded with the study's seed replays its random stream from
  the start each time the study is reopened, so its first proposals after a resume are the
  parameters of trials 1, 2, ... again. Optuna does not keep a sampler's state in its
  storage, so each session seeds its sampler from its own stream: the study's seed for a
  fresh study (so a study run in one go is what it always was), and for a resumed one a
  seed spawned from (seed, trials already in the study). The same history gives the same
  seed, so a resumed study is still reproducible.
- Duplicates: a proposal equal to the parameters of a trial already finished (possible on
  integer or choice spaces, where TPE's kernels concentrate) is not fitted again; the trial
  is marked pruned with `duplicate_of` and counts towards the trials asked for.
- Time: every session adds its wall seconds to the study's `seconds_spent` user attr after
  each trial, so the time reported is what every session spent, a killed one up to its last
  finished trial.
- The stop: a session that ends before the study reaches its trials because its time budget
  ran out says so (`stopped_by: timeout`, trials done / target).
"""

from __future__ import annotations

import threading
import time

from recsys_cli.core.seeds import stream_seed

RESUME_STREAM = 0x7E5A3  # tags the sampler seeds of resumed sessions
SECONDS_ATTR = "seconds_spent"
SESSIONS_ATTR = "sessions"


def sampler_seed(seed: int, trials_before: int) -> int:
    """The TPE seed of a session that opens a study holding `trials_before` trials."""
    return seed if trials_before == 0 else stream_seed(seed, RESUME_STREAM, trials_before)


def duplicate_of(study, number: int, params: dict) -> int | None:
    """The number of a finished trial (complete, or pruned after a fit) with exactly `params`."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if trial.number != number and "duplicate_of" not in trial.user_attrs and trial.params == params:
            return trial.number
    return None


class SessionClock:
    """This session's wall time, added to the study's total after every trial."""

    def __init__(self, study):
        self.study = study
        self.before = float(study.user_attrs.get(SECONDS_ATTR, 0.0))
        self.started = time.perf_counter()
        self.stopped: float | None = None
        self._lock = threading.Lock()
        study.set_user_attr(SESSIONS_ATTR, int(study.user_attrs.get(SESSIONS_ATTR, 0)) + 1)

    @property
    def session_seconds(self) -> float:
        return (self.stopped or time.perf_counter()) - self.started

    @property
    def total_seconds(self) -> float:
        return self.before + self.session_seconds

    def record(self) -> None:
        with self._lock:  # trials finish on several threads with `jobs` > 1
            self.study.set_user_attr(SECONDS_ATTR, round(self.total_seconds, 3))

    def stop(self) -> None:
        """The session's end: its time frozen and added to the study's."""
        self.stopped = time.perf_counter()
        self.record()


def stopped_by(done: int, target: int, budget: float | None, session_seconds: float) -> str:
    """Why the session stopped: `trials` (the target reached), `timeout` (the budget spent
    first) or `failures` (trials failed and none was left to run)."""
    if done >= target:
        return "trials"
    if budget is not None and session_seconds >= budget:
        return "timeout"
    return "failures"
