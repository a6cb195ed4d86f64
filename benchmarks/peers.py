"""Against the field: popularity, item-kNN (cosine), iALS and EASE through recsys_cli,
RecTools and LensKit on one split, with wall time, peak memory and MRR@100 side by side.

The split is the seed protocol on ml-latest-small (ratings >= 4 as likes; leave-one-random:
one random like held out for 20% of the users; seed 42), cut once by recsys_cli and exported
to data/bench/peers/split.npz. Every (library, model) pair runs in its own process
(benchmarks/peers_worker.py) that reads that file, fits, and writes the top-100 items of each
test user; wall time and peak resident memory are the child process's (os.wait4 rusage), so
they include imports and data preparation in each library's own format. MRR@100 is computed
here, by `mrr_at_k`, the same code for every library, over the full catalogue with each
user's train items filtered (any a library left in its list are dropped and counted).

The peers are pip-installed on first use into their own virtual environments,
benchmarks/.peers-venv/<library>/ (git ignores them), never into the project's: one venv per
peer because their pins (numpy, pandas, torch) need not agree. A peer that does not install
or has no such model gets an "n/a (reason)" row.

Same hyper-parameters everywhere (benchmarks/peers_worker.py): iALS 64 factors,
regularization 0.05, alpha 10 (LensKit: weight 10), 15 iterations; EASE l2 300; item-kNN 100
neighbours, cosine. Threads: each library's default (all cores).

Usage: python benchmarks/peers.py [--libraries recsys_cli,rectools,lenskit]
       [--models popular,item-knn,ials,ease]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH, ROOT  # noqa: E402

MOVIELENS = ROOT.parent / "shared" / "datasets" / "ml-latest-small"
VENVS = Path(__file__).parent / ".peers-venv"
WORKER = Path(__file__).parent / "peers_worker.py"
LIBRARIES = ["recsys_cli", "rectools", "lenskit"]
MODELS = ["popular", "item-knn", "ials", "ease"]
K = 100


def export_split(folder: Path) -> Path:
    """The seed protocol split, cut by recsys_cli, written once as plain index arrays."""
    from recsys_cli.data.split_folder import load_split
    from recsys_cli.stages.ingest import ingest
    from recsys_cli.stages.split import split as cut

    dataset = ingest("movielens", MOVIELENS, BENCH / "ml-latest-small-likes", {"min_rating": 4}).path
    split = load_split(cut(dataset, "leave-one-random", BENCH / "ml-latest-small-likes-split",
                           {"test_users": 0.2}, seed=42).path)
    train, test = split.train.tocoo(), split.test.tocsr()
    target = folder / "split.npz"
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(target, n_users=train.shape[0], n_items=train.shape[1], train_users=train.row.astype(np.int64),
             train_items=train.col.astype(np.int64),
             test_users=np.flatnonzero(np.diff(test.indptr)).astype(np.int64),
             test_indptr=test.indptr, test_items=test.indices)
    return target


def peer_python(library: str) -> tuple[Path | None, str]:
    """The interpreter of the library's own venv (created and installed on first use), or
    None and why not."""
    if library == "recsys_cli":
        return Path(sys.executable), ""
    folder = VENVS / library
    python = folder / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", f"import {library}"], capture_output=True).returncode == 0:
        return python, ""
    print(f"installing {library} into {folder} (first use) ...", flush=True)
    venv.create(folder, with_pip=True, clear=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", library], capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"pip install {library} failed: {last_line(done.stderr)}"
    return python, ""


def last_line(text: str) -> str:
    """The line that says what went wrong: the last error line, else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no message"])[-1][:120]


def run_one(python: Path, library: str, model: str, split: Path, out: Path) -> dict:
    """Run the worker in a fresh process; wall seconds and the child's own peak RSS."""
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    child = subprocess.Popen([str(python), str(WORKER), library, model, str(split), str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if child.returncode == 3:
        return {"error": last_line(stderr)}
    if child.returncode != 0:
        return {"error": f"failed: {last_line(stderr)}"}
    result = np.load(out)
    return {"wall": wall, "peak_mib": usage.ru_maxrss / 1024, "fit": float(result["fit_seconds"]),
            "recommend": float(result["recommend_seconds"]), "version": str(result["version"]),
            "recommendations": result["recommendations"]}


def mrr_at_k(recommendations: np.ndarray, split, k: int = K) -> tuple[float, int, int]:
    """MRR@k of test users x item lists (-1 = empty slot), the one evaluation every library's
    lists go through: the user's train items are removed first (later items move up, then the
    list is cut at k), so a library that does not filter them is not credited for them.
    `split`: the arrays of split.npz (export_split), as np.load gives them. Returns (MRR@k,
    train items found in the lists, lists shorter than k after filtering)."""
    n_items, users = int(split["n_items"]), split["test_users"]
    filled = recommendations >= 0
    keys = users[:, None] * n_items + np.where(filled, recommendations, 0)
    seen = filled & np.isin(keys, split["train_users"] * n_items + split["train_items"])
    valid = filled & ~seen
    rank = np.cumsum(valid, axis=1)  # position among the unseen items of the list
    test_rows = np.repeat(np.arange(len(split["test_indptr"]) - 1), np.diff(split["test_indptr"]))
    relevant = valid & (rank <= k) & np.isin(keys, test_rows * n_items + split["test_items"])
    first = np.where(relevant, rank, np.inf).min(axis=1)
    return float(np.mean(1.0 / first)), int(seen.sum()), int((valid.sum(axis=1) < k).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    libraries, models = args.libraries.split(","), args.models.split(",")
    folder = BENCH / "peers"
    split = export_split(folder)
    arrays = np.load(split)
    print(f"ml-latest-small, ratings >= 4: {int(arrays['n_users'])} users x {int(arrays['n_items'])} items, "
          f"{len(arrays['train_users'])} train likes, {len(arrays['test_users'])} test users "
          f"(one held-out like each); MRR@{K} by one shared function, full catalogue, seen filtered")
    results: dict[tuple[str, str], dict] = {}
    versions: dict[str, str] = {}
    for library in libraries:
        python, why = peer_python(library)
        for model in models:
            if python is None:
                results[library, model] = {"error": why}
                continue
            result = run_one(python, library, model, split, folder / f"{library}-{model}.npz")
            if "recommendations" in result:
                result["mrr"], result["seen"], result["short"] = mrr_at_k(result.pop("recommendations"), arrays)
                versions[library] = result["version"]
            results[library, model] = result
            print(f"  {library} {model}: " + (result.get("error") or
                  f"{result['wall']:.1f} s, {result['peak_mib']:.0f} MiB, MRR@{K} {result['mrr']:.4f}"), flush=True)
    print_table(results, libraries, models, versions)


def print_table(results: dict, libraries: list[str], models: list[str], versions: dict[str, str]) -> None:
    print("\n" + ", ".join(f"{lib} {versions.get(lib, '?')}" for lib in libraries))
    header = ["library", "model", "wall s", "fit s", "top-100 s", "peak MiB", f"MRR@{K}", "x wall", "x mem", "x MRR", "notes"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * 8 + ["---"]) + "|")
    for model in models:
        base = results.get(("recsys_cli", model), {})
        for library in libraries:
            row = results[library, model]
            if "error" in row:
                print(f"| {library} | {model} | n/a ({row['error']}) |" + " |" * 8)
                continue
            ratios = [f"{row[key] / base[key]:.2f}" if key in base and base[key] else "-" for key in ("wall", "peak_mib", "mrr")]
            notes = []
            if row["seen"]:
                notes.append(f"{row['seen']} seen items dropped")
            if row["short"]:
                notes.append(f"{row['short']} lists < {K}")
            print(f"| {library} | {model} | {row['wall']:.1f} | {row['fit']:.1f} | {row['recommend']:.1f} | {row['peak_mib']:.0f} | "
                  f"{row['mrr']:.4f} | " + " | ".join(ratios) + f" | {'; '.join(notes)} |")


if __name__ == "__main__":
    main()
