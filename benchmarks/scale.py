"""`backend: local` against `backend: ray` on one machine: all-user evaluation throughput,
tuning trials per hour, peak memory of the driver and of the Ray workers.

    python benchmarks/scale.py                          # the Dzen-shape synthetic preset
    python benchmarks/scale.py --preset small --scale 1 4
    python benchmarks/scale.py --cpus 2 --trials 6

`--scale N` repeats the preset's users N times (N copies of every user, new ids): 4x and 16x
of the Dzen shape. The model is item-kNN (deterministic, so both backends compute the same
lists); evaluation ranks the whole catalogue for every test user; tuning runs item-kNN
trials on the validation split, one per CPU at once on Ray, one at a time locally.
Worker memory is the largest resident set among Ray's worker processes, sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def scaled_split(preset: str, scale: int, seed: int = 42):
    """(train, test, valid_train, valid) of the preset with its users repeated `scale` times."""
    import scipy.sparse as sp

    from recsys_cli.data.formats.synthetic import read
    from recsys_cli.data.splits import TEST, Cells, leave_one_random

    events = read(preset=preset, seed=seed).events.select("user_id", "item_id").unique().collect()
    users, items = events["user_id"].to_numpy(), events["item_id"].to_numpy()
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    base = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(n_users, n_items))
    matrix = sp.vstack([base] * scale, format="csr")
    rng = np.random.default_rng(seed)
    cells = Cells.from_matrix(matrix)
    labels = leave_one_random(cells, rng, 0.2)
    train_cells = cells.subset(labels != TEST)
    valid_labels = leave_one_random(train_cells, rng, 0.05)
    return (cells.to_csr(labels != TEST), cells.to_csr(labels == TEST),
            train_cells.to_csr(valid_labels != TEST), train_cells.to_csr(valid_labels == TEST))


class WorkerMemory:
    """Peak resident memory (MiB) of Ray worker processes, sampled in a thread."""

    def __init__(self):
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):  # Linux /proc: the workers' command lines start with "ray::"
        while not self._stop.is_set():
            for proc in Path("/proc").glob("[0-9]*"):
                try:
                    command = (proc / "cmdline").read_bytes()
                    if command.startswith(b"ray::") or b"default_worker.py" in command:
                        rss = next(line for line in (proc / "status").read_text().splitlines() if line.startswith("VmRSS"))
                        self.peak = max(self.peak, int(rss.split()[1]) / 1024)
                except (OSError, StopIteration):
                    continue
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def bounded_space() -> dict:
    """item-kNN's space without shrink / jaccard: those build the full X^T X item product,
    which on the Dzen shape outgrows a 24 GiB machine (19 GiB, then the OOM killer) and would
    measure that product, not the backends. implicit's kernels keep K neighbours per row."""
    from recsys_cli.tuning.space import SpaceEntry

    return {"similarity": SpaceEntry(choices=["cosine", "bm25", "tfidf"]),
            "neighbors": SpaceEntry(low=5, high=200, log=True, type="int")}


def measure(backend, model, train, test, valid_train, valid, trials: int, tmp: Path) -> dict:
    from recsys_cli.config.blocks import TuneBlock

    started = time.perf_counter()
    result = backend.evaluate(model, train, test, train, [10, 100], ["mrr", "recall"], bootstrap=False)
    eval_seconds = time.perf_counter() - started
    figures = {"users_per_s": len(result.users) / eval_seconds, "mrr": result.summary["mrr@100"],
               "per_user": result.per_user, "eval_s": eval_seconds}
    if trials == 0:
        return figures
    space = bounded_space()
    block = TuneBlock(trials=trials, metric="mrr@100", pruner="none")
    started = time.perf_counter()
    backend.run_study(model_type="item-knn", base_params={}, block=block, space=space,
                      storage_path=backend.study_storage(tmp / backend.name), study_name="scale",
                      validation=(valid_train, valid, valid_train, False), filter_seen=True, seed=1, threads=0,
                      jobs=1, trials=trials)
    tune_seconds = time.perf_counter() - started
    return {**figures, "trials_per_hour": trials * 3600 / tune_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="dzen")
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--trials", type=int, default=4, help="tuning trials per backend (0: evaluation only)")
    parser.add_argument("--shard-users", type=int, default=8192)
    args = parser.parse_args()

    import tempfile

    from recsys_cli.backends.local import LocalBackend
    from recsys_cli.backends.ray_backend import RayBackend
    from recsys_cli.config.blocks import RayBlock
    from recsys_cli.models.item_knn import ItemKNN

    print(f"preset {args.preset}, item-kNN, {args.cpus} Ray CPUs, shards of at most {args.shard_users} users, "
          f"{args.trials} tuning trials; load {os.getloadavg()[0]:.2f}")
    print(f"{'scale':>5s} {'users':>9s} {'backend':>7s} {'eval users/s':>13s} {'trials/h':>9s} "
          f"{'driver MiB':>11s} {'worker MiB':>11s}")
    for scale in args.scale:
        train, test, valid_train, valid = scaled_split(args.preset, scale)
        model = ItemKNN({}, seed=0, threads=args.cpus).fit(train)
        with tempfile.TemporaryDirectory() as tmp:
            rows = []
            with LocalBackend() as local:
                rows.append(("local", measure(local, model, train, test, valid_train, valid, args.trials, Path(tmp)), 0.0))
            block = RayBlock(num_cpus=args.cpus, shard_users=args.shard_users)
            with RayBackend(block, verbose=False) as ray_backend, WorkerMemory() as workers:
                rows.append(("ray", measure(ray_backend, model, train, test, valid_train, valid, args.trials,
                                            Path(tmp)), None))
            rows[-1] = (*rows[-1][:2], workers.peak)
        driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for name, figures, worker in rows:
            print(f"{scale:>4d}x {train.shape[0]:>9,} {name:>7s} {figures['users_per_s']:>13,.0f} "
                  f"{figures.get('trials_per_hour', float('nan')):>9,.0f} {driver:>11,.0f} {worker:>11,.0f}")
        local_f, ray_f = rows[0][1], rows[1][1]
        assert ray_f["per_user"].equals(local_f["per_user"]), "the backends' per-user metrics differ"
        tuning = (f", tuning {ray_f['trials_per_hour'] / local_f['trials_per_hour']:.2f}x"
                  if "trials_per_hour" in ray_f else "")
        print(f"      ray / local: evaluation {ray_f['users_per_s'] / local_f['users_per_s']:.2f}x "
              f"(target >= 0.8x; {local_f['eval_s']:.1f} s local, {ray_f['eval_s']:.1f} s ray; per-user metrics "
              f"equal){tuning}; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
