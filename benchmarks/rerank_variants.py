"""rerank's ranker, varied on fixed candidates (issue 27): which objective, features and
trees order EASE + iALS-Rendle + popularity's candidates best, against EASE alone.

The generators dominate rerank's cost and every ranker variant sees the same candidates, so
they are made once per fold and cached: rerank at its defaults builds the ranker's training
frame (generators fitted on all but 20% of each train user's likes, labels from that 20%)
and, refitted on the whole train split, the test users' candidates. Each variant then trains
one LightGBM model per fold on that frame and ranks the test users' candidates; printed: test
MRR@100 pooled over the folds' users, the per-user difference to EASE (the first generator's
own top 100, fitted on the same train) with its 95% interval, and to the first variant.
A variant with `carves` stacks the training frames of that many holdout carves (rerank seeded
apart; the extra ones are made and cached when first asked for).

Folds: the 5 user folds of a data set folder a `benchmarks/beyond_ease.py` run made (its
splits/, e.g. data/bench/beyond-ml-small-all).

    python benchmarks/rerank_variants.py DATASET_FOLDER [--cache FOLDER] [--variants lambdarank,binary,...]
        [--holdout 0.2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NORM = ["ease_0_gap", "ease_0_z", "ials-rendle_1_z", "popularity_rank", "proposers"]
VARIANTS = {  # LightGBM settings over 100 trees, rate 0.05, 15 leaves, >= 100 candidates a leaf (the defaults before);
    # "-from-ease": boosting starts from EASE's ranking (-log of its rank) instead of from zero
    "lambdarank": {"objective": "lambdarank"},  # the defaults before this benchmark
    "binary": {"objective": "binary"},
    "binary+per-user": {"objective": "binary", "extra": NORM},
    "lambdarank+per-user": {"objective": "lambdarank", "extra": NORM},
    "lambdarank-from-ease": {"objective": "lambdarank", "start": 1.0},
    "binary-from-ease": {"objective": "binary", "start": 1.0},
    "binary-200-trees": {"objective": "binary", "n_estimators": 200},
    "binary-50-trees": {"objective": "binary", "n_estimators": 50},
    "binary-7-leaves": {"objective": "binary", "num_leaves": 7},
    "binary-31-leaves": {"objective": "binary", "num_leaves": 31},
    "binary-30-a-leaf": {"objective": "binary", "min_child_samples": 30},
    "binary-300-a-leaf": {"objective": "binary", "min_child_samples": 300},  # the defaults since
    "binary-rate-0.1": {"objective": "binary", "learning_rate": 0.1},
    # more labels: the training frames of 2 or 3 independent holdout carves of each user, stacked
    "binary-300-a-leaf-2-carves": {"objective": "binary", "min_child_samples": 300, "carves": 2},
    "binary-300-a-leaf-3-carves": {"objective": "binary", "min_child_samples": 300, "carves": 3},
    "binary-600-a-leaf-2-carves": {"objective": "binary", "min_child_samples": 600, "carves": 2},
}


def per_user_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Scores relative to the user's other candidates: EASE's gap to the best and z-score,
    iALS-Rendle's z-score, the popularity rank among them, how many generators proposed it
    (an item a generator did not propose sits below every one it did)."""
    def z(column):
        spread = pl.col(column).std().over("user")
        return (pl.col(column) - pl.col(column).mean().over("user")) / pl.when(spread > 0).then(spread).otherwise(1.0)

    frame = frame.with_columns(
        (pl.col("ease_0_score") - pl.col("ease_0_score").max().over("user")).alias("ease_0_gap"),
        z("ease_0_score").alias("ease_0_z"), z("ials-rendle_1_score").alias("ials-rendle_1_z"),
        pl.col("item_popularity").rank(descending=True).over("user").alias("popularity_rank"),
        ((pl.col("ease_0_rank") <= 100).cast(pl.Int8) + (pl.col("ials-rendle_1_rank") <= 50).cast(pl.Int8)
         + (pl.col("popular_2_rank") <= 20).cast(pl.Int8)).alias("proposers"))
    return frame.with_columns(
        pl.col("ease_0_gap").fill_null(pl.col("ease_0_gap").min().over("user") * 1.5),
        *(pl.col(c).fill_null(pl.col(c).min().over("user") - 1) for c in ("ease_0_z", "ials-rendle_1_z")))


def cache_fold(fold: int, split: Path, cache: Path, holdout: float) -> None:
    """Fit rerank's generators on `split` once; keep the training frame and the test users' candidates."""
    from recsys_cli.data.csr_file import read_sparse
    from recsys_cli.models.rerank import Rerank

    if (cache / f"serve-{fold}.parquet").exists():
        return
    train, test = read_sparse(split / "train.npz"), read_sparse(split / "test.npz")
    users = np.flatnonzero(np.diff(test.indptr)).astype(np.int32)
    target = test.indices[test.indptr[users]].astype(np.int32)
    started = time.perf_counter()
    model = Rerank({"holdout": holdout}, seed=42, threads=1)
    model.training_frame(train).write_parquet(carve_path(cache, fold, 0))
    model.fit_serving(train)
    serve = model.candidate_frame(users, train).join(pl.DataFrame({"user": users, "target": target}), on="user")
    serve.with_columns((pl.col("item") == pl.col("target")).cast(pl.Int8).alias("label")).write_parquet(
        cache / f"serve-{fold}.parquet")
    ids, _ = model.serving[0].recommend(users, train, 100)  # EASE alone, for reference
    hit = ids == target[:, None]
    np.savez(cache / f"ease-{fold}.npz", users=users, rr=np.where(hit.any(1), 1 / (hit.argmax(1) + 1), 0.0))
    print(f"  fold {fold}: candidates cached in {time.perf_counter() - started:.0f} s", flush=True)


def carve_path(cache: Path, fold: int, number: int) -> Path:
    """Where a fold's training frame of holdout carve `number` is cached (rerank seeded 42 + number;
    carve 0 is the one cache_fold makes)."""
    return cache / (f"train-{fold}.parquet" if number == 0 else f"train-{fold}-carve-{number}.parquet")


def training_frame(settings: dict, fold: int, cache: Path, split: Path, holdout: float) -> pl.DataFrame:
    """The training frames of settings' `carves` holdout carves, stacked, each made once and
    cached; a user of carve c becomes user * carves + c, so each carve's candidates stay one group."""
    from recsys_cli.data.csr_file import read_sparse
    from recsys_cli.models.rerank import Rerank

    carves = settings.get("carves", 1)
    frames = []
    for number in range(carves):
        path = carve_path(cache, fold, number)
        if not path.exists():
            Rerank({"holdout": holdout}, seed=42 + number, threads=1).training_frame(
                read_sparse(split / "train.npz")).write_parquet(path)
        frames.append(pl.read_parquet(path).with_columns(pl.col("user") * carves + number))
    return pl.concat(frames, how="vertical_relaxed")


def variant_rr(settings: dict, fold: int, cache: Path, features: list[str], split: Path, holdout: float) -> np.ndarray:
    """Test reciprocal ranks (at 100) of one ranker variant on one fold's cached candidates."""
    import lightgbm as lgb

    train = per_user_features(training_frame(settings, fold, cache, split, holdout))
    serve = per_user_features(pl.read_parquet(cache / f"serve-{fold}.parquet")).sort("user", "item")
    names = features + settings.get("extra", [])
    options = dict(n_estimators=settings.get("n_estimators", 100), learning_rate=settings.get("learning_rate", 0.05),
                   num_leaves=settings.get("num_leaves", 15), min_child_samples=settings.get("min_child_samples", 100),
                   random_state=42, n_jobs=1, verbose=-1)
    start = settings.get("start")  # boost from EASE's ranking: -start * log(its rank) as the initial score

    def initial(frame):
        return -start * np.log(frame["ease_0_rank"].to_numpy()) if start else None

    fit = {"init_score": initial(train)}
    if settings["objective"] == "lambdarank":
        model = lgb.LGBMRanker(objective="lambdarank", **options)
        fit["group"] = train.group_by("user", maintain_order=True).len()["len"].to_numpy()
    else:
        model = lgb.LGBMClassifier(objective="binary", **options)
    model.fit(train.select(names).to_numpy(), train["label"].to_numpy(), **fit)
    scores = model.predict(serve.select(names).to_numpy(), raw_score=True)
    if start:
        scores = scores + initial(serve)
    ranked = serve.with_columns(pl.Series("s", scores)).sort(["user", "s", "item"], descending=[False, True, False])
    ranked = ranked.with_columns(pl.int_range(pl.len()).over("user").alias("position"))
    hits = ranked.filter((pl.col("label") == 1) & (pl.col("position") < 100)).select(
        "user", (1 / (pl.col("position") + 1)).alias("rr"))
    users = np.load(cache / f"ease-{fold}.npz")["users"]
    return pl.DataFrame({"user": users}).join(hits, on="user", how="left")["rr"].fill_null(0.0).to_numpy()


def interval(difference: np.ndarray) -> str:
    half = 1.96 * difference.std(ddof=1) / np.sqrt(len(difference))
    return f"{difference.mean():+.4f} [{difference.mean() - half:+.4f}, {difference.mean() + half:+.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="a data set folder with the 5 user folds under splits/")
    parser.add_argument("--cache", type=Path, help="where the candidates are kept (default: /tmp/rerank-variants-NAME)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"any of: {', '.join(VARIANTS)}")
    parser.add_argument("--holdout", type=float, default=0.2, help="rerank's holdout share for the ranker's labels")
    args = parser.parse_args()
    from recsys_cli.models.rerank import Rerank

    cache = args.cache or Path("/tmp") / f"rerank-variants-{args.dataset.resolve().name}-{args.holdout}"
    cache.mkdir(parents=True, exist_ok=True)
    params = {p: json.loads((p / "split.json").read_text())["params"]
              for p in (args.dataset / "splits").iterdir() if (p / "split.json").is_file()}
    splits = {fold["fold"]: p for p, fold in params.items() if "fold" in fold}  # fold number -> split folder
    print(f"{args.dataset.name}: {len(splits)} folds, holdout {args.holdout}; candidates in {cache}", flush=True)
    folds = sorted(splits)
    for fold in folds:
        cache_fold(fold, splits[fold], cache, args.holdout)
    ease = np.concatenate([np.load(cache / f"ease-{f}.npz")["rr"] for f in folds])
    features = Rerank({}).feature_names()
    print(f"{'ranker':32} {'MRR@100':>8}  {'- EASE per user [95%]':32}  - {args.variants.split(',')[0]}")
    print(f"{'EASE alone':32} {ease.mean():8.4f}")
    first = None
    for name in args.variants.split(","):
        rr = np.concatenate([variant_rr(VARIANTS[name], f, cache, features, splits[f], args.holdout) for f in folds])
        first = rr if first is None else first
        print(f"{name:32} {rr.mean():8.4f}  {interval(rr - ease):32}  {interval(rr - first)}  ({len(rr)} users)",
              flush=True)


if __name__ == "__main__":
    main()
