"""`backend: ray`: all-user evaluation, exports and tuning trials on a Ray cluster.

- Evaluation and exports are sharded by blocks of consecutive users: the fitted model,
  train and history are put in the object store once for the backend's life (`_share`: the
  same object in evaluation, export and compare is one object-store entry, which each node
  fetches once and its workers map without copying); each task ranks its block (seen items
  masked), takes the top K and computes the per-user metrics with the same `evaluate` as
  the local backend; the driver concatenates the blocks in user order and computes the
  means, coverage and intervals. Per-user results are therefore those of a local run.
- Shard sizes (`shard_sizes`): guided self-scheduling (Polychronopoulos & Kuck, 1987). Each
  block takes ceil(remaining / (2 x slots)) users, slots being the cluster's CPUs over
  `task_cpus`, between MIN_SHARD_USERS (or `shard_users` if smaller) and `shard_users`: big
  blocks first, so per-task costs (scheduling, a worker's fixed work per block, the result's
  transfer) are paid rarely, and shrinking ones at the end, so no slot idles while another
  finishes a big block. See docs/scaling.md for the measured per-task cost.
- Tuning: each trial is a Ray task with `trial_cpus` CPUs. The driver keeps the one seeded
  sampler (ask, suggest, tell), so with one trial at a time the trials are the local ones;
  workers reopen the study from storage that every host can reach (an Optuna journal file
  on a shared file system by default, or the RDB URL in `ray.storage`) to report
  intermediate values for pruning. The study stays resumable like the local one.
- `recsys compare` ranks the test users' lists of every model in the same shards
  (`map_user_blocks`); similar-item agreement (a thousand anchors) stays in the driver.
- Training stays one task in the driver (today's fit, unchanged).
- `address: null` starts a local Ray for the run and stops it after; `auto` joins the
  cluster `ray start` made; `ray://host:10001` is a remote cluster. Ray's logs stay quiet
  unless `recsys --verbose`.
"""

from __future__ import annotations

import functools
import itertools
import os
import time
from pathlib import Path

import numpy as np

from recsys_cli.core.errors import InputError


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError("backend: ray needs Ray; install it with: pip install 'recsys_cli[ray]'") from None
    return ray


WORKER_RETRIES = 3  # attempts after the first when a worker process dies under a task
MIN_SHARD_USERS = 512  # an evaluation block's fixed cost is ~20 ms (docs/scaling.md): >= 20x that of work
SHARDS_PER_SLOT = 2  # guided self-scheduling's divisor: each block takes remaining / (2 x slots)


def shard_sizes(n_users: int, slots: int, largest: int, smallest: int = MIN_SHARD_USERS) -> list[int]:
    """Users per block, in order: ceil(remaining / (SHARDS_PER_SLOT x slots)) clamped to
    [min(smallest, largest), largest] (the last block takes what is left)."""
    floor = max(1, min(smallest, largest))
    sizes, remaining = [], n_users
    while remaining > 0:
        size = min(remaining, largest, max(floor, -(-remaining // (SHARDS_PER_SLOT * max(slots, 1)))))
        sizes.append(size)
        remaining -= size
    return sizes


def _result(future):
    """ray.get, with a worker that died on every attempt explained."""
    ray = _ray()
    try:
        return ray.get(future)
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError) as error:
        raise RuntimeError(
            f"a Ray worker died {WORKER_RETRIES + 1} times running the same task; most often the operating system's "
            "OOM killer or Ray's memory monitor killed it because the node ran out of memory. Free memory, or lower "
            "ray.shard_users (evaluation) or ray.parallel_trials (tuning)."
        ) from error


def user_rows(matrix, start: int, stop: int):
    """`matrix` with only the rows start..stop-1 kept (same shape): one shard's test part."""
    import scipy.sparse as sp

    lo, hi = matrix.indptr[start], matrix.indptr[stop]
    indptr = np.clip(matrix.indptr, lo, hi) - lo
    return sp.csr_matrix((matrix.data[lo:hi], matrix.indices[lo:hi], indptr), shape=matrix.shape)


def _evaluate_shard(model, train, test, history, users, ks, names, options):
    from recsys_cli.evaluation.evaluate import score_users

    return score_users(model, train, test, history, users, ks, names, **options)


def _recommend_shard(model, users, history, k, filter_seen, fold_in):
    from recsys_cli.evaluation.evaluate import users_per_chunk
    from recsys_cli.models.topk import in_batches

    return in_batches(lambda batch: model.recommend(batch, history, k, filter_seen=filter_seen, fold_in=fold_in),
                      users, users_per_chunk(k))


def _run_trial(objective, study_name: str, storage, pruner, trial_id: int, catch: tuple):
    """One Optuna trial in a worker: the trial's parameters were suggested by the driver."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from recsys_cli.tuning.study import open_storage

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage), pruner=pruner,
                              sampler=optuna.samplers.RandomSampler())
    try:
        return "complete", float(objective(optuna.trial.Trial(study, trial_id)))
    except optuna.TrialPruned:
        return "pruned", None
    except catch as error:
        return "fail", f"{type(error).__name__}: {error}"


class RayBackend:
    name = "ray"

    def __init__(self, block, verbose: bool | None = None):
        self.block = block
        self.verbose = os.environ.get("RECSYS_VERBOSE") == "1" if verbose is None else verbose
        self._started = False
        self._shared: dict[int, tuple[object, object]] = {}  # id(value) -> (value, its object ref)

    # -- the cluster --------------------------------------------------------------------------
    def __enter__(self) -> "RayBackend":
        import logging

        ray = _ray()
        if not ray.is_initialized():
            address = self.block.address or "local"
            options = dict(address=address, include_dashboard=False, log_to_driver=self.verbose,
                           logging_level=logging.INFO if self.verbose else logging.ERROR)
            if address == "local":
                options["num_cpus"] = self.block.num_cpus
            if not self.verbose:
                os.environ.setdefault("RAY_DEDUP_LOGS", "1")
            try:
                ray.init(**options)
            except ConnectionError as error:
                raise InputError(f"ray.address {address!r}: could not connect to a Ray cluster ({error})") from None
            self._started = True
        return self

    def __exit__(self, *exc) -> None:
        self._shared.clear()
        if self._started:
            _ray().shutdown()
            self._started = False

    def describe(self) -> dict:
        ray = _ray()
        return {"backend": self.name, "ray_version": ray.__version__, "address": self.block.address,
                "cluster_resources": {k: v for k, v in ray.cluster_resources().items() if "node:" not in k},
                "shard_users": self.block.shard_users, "task_cpus": self.block.task_cpus,
                "trial_cpus": self.block.trial_cpus}

    def _remote(self, func, cpus: int):
        # Every task is a pure function of its inputs (a trial re-reports the same steps), so
        # a worker that dies (on a shared machine, mostly the kernel's OOM killer taking the
        # largest process) is retried; an exception raised by the task itself is not.
        # SPREAD: blocks and trials go round the nodes that have a free CPU, instead of
        # filling the driver's node first (Ray's default), so every node works from the start.
        return _ray().remote(num_cpus=cpus, max_retries=WORKER_RETRIES, scheduling_strategy="SPREAD")(func)

    def _gather(self, futures: list, sizes: list[int], progress) -> list:
        """Results in submission order, advancing `progress` as shards finish."""
        ray = _ray()
        index = {future: i for i, future in enumerate(futures)}
        results, pending = [None] * len(futures), list(futures)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for future in done:
                results[index[future]] = _result(future)
                if progress is not None:
                    progress(sizes[index[future]])
        return results

    def _shards(self, users: np.ndarray) -> list[np.ndarray]:
        """Consecutive blocks of `users`, sized by `shard_sizes` for this cluster."""
        slots = int(_ray().cluster_resources().get("CPU", 1)) // self.block.task_cpus
        bounds = np.cumsum([0, *shard_sizes(len(users), slots, self.block.shard_users)])
        return [users[start:stop] for start, stop in itertools.pairwise(bounds)]

    def _share(self, value):
        """The object ref of `value`, put in the object store once for this backend's life (the
        value is held with it, so its id is not reused while the ref is cached)."""
        key = id(value)
        if key not in self._shared:
            self._shared[key] = (value, _ray().put(value))
        return self._shared[key][1]

    # -- evaluation and exports -------------------------------------------------------------
    def evaluate(self, model, train, test, history, ks, names, *, filter_seen=True, fold_in=False, keep=0,
                 seed=0, progress=None, bootstrap=True):
        from recsys_cli.evaluation.evaluate import summarise

        users = np.flatnonzero(np.diff(test.indptr)).astype(np.int32)
        shards = self._shards(users)
        options = {"filter_seen": filter_seen, "fold_in": fold_in, "keep": keep}
        if not shards:  # no test users: the same (empty) evaluation as the local one
            parts = [_evaluate_shard(model, train, test, history, users, ks, names, options)]
        else:
            model_ref, train_ref, history_ref = self._share(model), self._share(train), self._share(history)
            task = self._remote(_evaluate_shard, self.block.task_cpus)
            futures = [task.remote(model_ref, train_ref, user_rows(test, int(s[0]), int(s[-1]) + 1), history_ref, s,
                                   ks, names, options) for s in shards]
            parts = self._gather(futures, [len(s) for s in shards], progress)
        return summarise(parts, model, train, test, ks, names, seed=seed, bootstrap=bootstrap)

    def recommend(self, model, users: np.ndarray, history, k: int, *, filter_seen: bool, fold_in: bool):
        shards = self._shards(users)
        if not shards:
            return np.empty((0, k), np.int32), np.empty((0, k), np.float32)
        model_ref, history_ref = self._share(model), self._share(history)
        task = self._remote(_recommend_shard, self.block.task_cpus)
        parts = self._gather([task.remote(model_ref, s, history_ref, k, filter_seen, fold_in) for s in shards],
                             [len(s) for s in shards], None)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def map_user_blocks(self, function, users: np.ndarray, *shared, block: int | None = None) -> list:
        """[function(users of a shard, *shared)] over the shards of `_shards`, one Ray task
        each, in user order; `shared` goes once into the object store. (`block`, the local
        batch size, is unused: a task batches inside `function` if it needs to.)"""
        shards = self._shards(users)
        if not shards:
            return []
        refs = [self._share(value) for value in shared]
        task = self._remote(function, self.block.task_cpus)
        return self._gather([task.remote(s, *refs) for s in shards], [len(s) for s in shards], None)

    # -- tuning -----------------------------------------------------------------------------
    def study_storage(self, folder: Path):
        """The user's RDB URL, or an Optuna journal file (safe for several hosts on NFS)."""
        return self.block.storage or folder / "study.journal"

    def parallel_trials(self) -> int:
        if self.block.parallel_trials:
            return self.block.parallel_trials
        cpus = int(_ray().cluster_resources().get("CPU", 1))
        return max(1, cpus // self.block.trial_cpus)

    def run_study(self, **kwargs):
        from recsys_cli.tuning import study as tuning

        parallel = self.parallel_trials()
        kwargs.update(jobs=parallel, threads=parallel * self.block.trial_cpus)  # trial_cpus threads per trial
        optimize = functools.partial(self._optimize, storage=kwargs["storage_path"], study_name=kwargs["study_name"])
        return tuning.run_study(**kwargs, optimize=optimize)

    def _optimize(self, study, objective, suggest, *, n_trials, timeout, n_jobs, callbacks, catch,
                  storage, study_name):
        """study.optimize with each trial a Ray task; the driver asks, suggests and tells."""
        from optuna.trial import TrialState

        ray = _ray()
        objective_ref = self._share(objective)  # the validation matrices travel once
        task = self._remote(_run_trial, self.block.trial_cpus)
        started, launched, running = time.perf_counter(), 0, {}
        while running or launched < n_trials:
            out_of_time = timeout is not None and time.perf_counter() - started > timeout
            while len(running) < max(1, n_jobs) and launched < n_trials and not out_of_time:
                trial = study.ask()
                suggest(trial)
                running[task.remote(objective_ref, study_name, storage, study.pruner, trial._trial_id, catch)] = trial
                launched += 1
            if not running:
                break
            done, _ = ray.wait(list(running), num_returns=1)
            trial = running.pop(done[0])
            try:
                state, value = _result(done[0])
            except Exception:
                study.tell(trial, state=TrialState.FAIL)
                raise
            if state == "complete":
                frozen = study.tell(trial, value)
            else:
                if state == "fail":
                    trial.set_user_attr("fail_reason", value)
                frozen = study.tell(trial, state=TrialState.PRUNED if state == "pruned" else TrialState.FAIL)
            for callback in callbacks:
                callback(study, frozen)
