"""How differently the models of a run see item similarity and users (seeds 000 and 001).

All list comparisons are vectorised over anchors (or users): for two (n, k) top-k id arrays
the match cube M[a, i, j] = (A[a, i] == B[a, j]) gives, by 2-D prefix sums, the overlap X_d
of the two depth-d prefixes for every d at once. From it:
- overlap@k = X_k / k (seed 000's measure_sim, the share of one list found in the other),
- Jaccard@k = X_k / (2k - X_k),
- RBO (Webber, Moffat & Zobel 2010), extrapolated for equal-length lists:
  RBO_ext = X_k/k * p^k + (1 - p)/p * sum_d X_d/d * p^d, with persistence p = 0.9.
Metric differences use paired tests of the mean difference on per-user test values (a
sign-flip permutation test by default, a paired t-test, or Wilcoxon on request; see
evaluation/significance.py), Holm-adjusted across model pairs, with paired bootstrap
intervals at the Bonferroni level of the same family.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.core.errors import InputError
from recsys_cli.evaluation.significance import ALPHA, holm, paired_pvalue, test_label
from recsys_cli.serving.anchors import resolve_anchor_items

RBO_PERSISTENCE = 0.9
STRATA = ("head", "torso", "tail")


def prefix_overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """X[n, d-1] = |a[n, :d] ∩ b[n, :d]| for d = 1..k (lists without repeats; -1 pads a
    short list and matches nothing)."""
    matches = ((a[:, :, None] == b[:, None, :]) & (a[:, :, None] >= 0)).astype(np.int32)
    prefix = matches.cumsum(axis=1).cumsum(axis=2)
    return np.diagonal(prefix, axis1=1, axis2=2)


def list_agreement(a: np.ndarray, b: np.ndarray, p: float = RBO_PERSISTENCE) -> dict[str, np.ndarray]:
    """Per-row overlap@k, Jaccard@k and RBO of two equally long top-k lists."""
    k = a.shape[1]
    overlaps = prefix_overlaps(a, b).astype(np.float64)
    depth = np.arange(1, k + 1)
    found = overlaps[:, -1]
    rbo = found / k * p**k + (1 - p) / p * (overlaps / depth * p**depth).sum(axis=1)
    return {"overlap": found / k, "jaccard": found / (2 * k - found), "rbo": rbo}


def choose_anchors(popularity: np.ndarray, n: int, seed: int, top: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The `top` most popular items plus a seeded sample stratified by popularity: items
    ranked by popularity are cut into head / torso / tail (the top 20% of interactions' worth
    of items, the next 30%, the rest) and sampled evenly. Returns (items, stratum names)."""
    from recsys_cli.evaluation.breakdown import popularity_strata

    order = np.lexsort((np.arange(len(popularity)), -popularity))
    order = order[popularity[order] > 0]
    stratum = popularity_strata(popularity)
    chosen = [order[:top]]
    rng = np.random.default_rng(seed)
    rest = max(0, n - top)
    for s in range(3):
        pool = np.setdiff1d(order[stratum[order] == s], order[:top])
        wanted = rest // 3 + (1 if s < rest % 3 else 0)
        chosen.append(rng.choice(pool, size=min(wanted, len(pool)), replace=False))
    items = np.concatenate(chosen).astype(np.int32)
    names = np.array(STRATA)[stratum[items]]
    names[:len(chosen[0])] = "top"
    return items, names


def paired_significance(per_user: dict[str, np.ndarray], metric: str, resamples: int = 2000, seed: int = 0,
                        alpha: float = ALPHA, test: str = "permutation") -> pl.DataFrame:
    """For each model pair: mean difference (a - b), its paired bootstrap interval at the
    Bonferroni level 1 - alpha / pairs (simultaneous over the family), the `test` p-value and
    the Holm-adjusted one, and a plain verdict decided by the adjusted p-value."""
    from recsys_cli.evaluation.statistics import bootstrap_ci

    pairs = list(combinations(per_user, 2))
    level = 1 - alpha / max(len(pairs), 1)
    rows = []
    for a, b in pairs:
        diff = per_user[a].astype(np.float64) - per_user[b]
        low, high = bootstrap_ci(diff, resamples=resamples, level=level, seed=seed)
        rows.append({"model_a": a, "model_b": b, "metric": metric, "mean_a": float(per_user[a].mean(dtype=np.float64)),
                     "mean_b": float(per_user[b].mean(dtype=np.float64)), "difference": float(diff.mean()),
                     "ci_low": low, "ci_high": high, "ci_level": level, "test": test,
                     "p_value": paired_pvalue(diff, test, seed)})
    frame = pl.DataFrame(rows)
    if frame.height == 0:
        return frame
    frame = frame.with_columns(pl.Series("p_holm", holm(frame["p_value"].to_numpy())))
    winner = pl.when(pl.col("difference") > 0).then(pl.col("model_a")).otherwise(pl.col("model_b"))
    return frame.with_columns(
        pl.when(pl.col("p_holm") < alpha).then(pl.format("{} better", winner))
        .otherwise(pl.lit("not significant"))
        .alias("verdict")
    )


@dataclass
class ComparedRun:
    """A finished run folder: its config, models, split and item metadata."""

    path: Path
    config: dict
    manifest: dict
    models: dict = field(default_factory=dict)  # name -> fitted model

    @classmethod
    def open(cls, path: Path, names: list[str] | None) -> "ComparedRun":
        from recsys_cli.models.registry import load_model
        from recsys_cli.store.runs import (check_manifest, check_model_files, read_run_config, resolve_run_dir,
                                           trained_models)

        path = resolve_run_dir(path)
        config = read_run_config(path)
        manifest = check_manifest(path)
        trained = trained_models(path, manifest)
        wanted = names or list(trained)
        missing = [n for n in wanted if n not in trained]
        if missing:
            raise InputError(f"no trained model {', '.join(missing)} in this run; it has {', '.join(trained)}", path=path)
        context = cls(path, config, manifest)
        context.models = {n: load_model(trained[n], path / "models" / n, checked=check_model_files(path, manifest, n))
                          for n in wanted}
        return context

    def filter_seen(self, name: str) -> bool:
        """Whether the run ranked this model with seen items filtered (metrics.json's protocol)."""
        from recsys_cli.store.runs import read_run_record

        protocol = (read_run_record(self.path, "metrics.json") or {}).get("protocol", {})
        return protocol.get("filter_seen", {}).get(name, True)

    def dataset_dir(self) -> Path:
        from recsys_cli.store.inputs import find_run_dataset, recorded_datasets

        found = find_run_dataset(self.path, self.manifest, self.config)
        if found is None:
            raise InputError(f"the dataset this run was trained on ({' = '.join(recorded_datasets(self.manifest, self.config))}) "
                             "is not there, nor under the run folder's parent folders", path=self.path)
        return found

    def split(self):
        from recsys_cli.data.split_folder import load_split

        from recsys_cli.store.inputs import find_run_split

        found = find_run_split(self.path, self.manifest, self.config, self.dataset_dir())
        if found is None:
            raise InputError("the split this run was evaluated on is not there, nor inside its dataset", path=self.path)
        return load_split(found)


def compare_run(run_dir: Path, models: list[str] | None = None, k: int = 10, anchors: int = 1000,
                item_ids: list[str] | None = None, item_names: list[str] | None = None, seed: int | None = None,
                metric: str | None = None, test: str = "permutation", backend: str | None = None) -> dict:
    """Everything `recsys compare` computes; writes RUN_DIR/compare/ and appends to report.md.
    `seed` (anchor sample, bootstrap, permutations) defaults to the compare seed the run's own
    seed spawns. The test users' lists are ranked on `backend` (default: the run's own,
    `backend: ray` shards them by user blocks); similar-item anchors stay in this process."""
    from recsys_cli.core.atomic import write_json, write_parquet
    from recsys_cli.data.dataset import Dataset
    from recsys_cli.models.base import item_popularity
    from recsys_cli.report.tables import heatmap, histograms

    context = ComparedRun.open(run_dir, models)
    if seed is None:
        from recsys_cli.core.seeds import DEFAULT_SEED, derived_seed

        recorded = context.manifest.get("seeds", {}).get("compare")
        seed = recorded if recorded is not None else derived_seed(context.manifest.get("seed", DEFAULT_SEED), "compare")
    out = context.path / "compare"
    out.mkdir(exist_ok=True)
    split = context.split()
    dataset = Dataset.open(context.dataset_dir())
    popularity = item_popularity(split.train)
    result: dict = {"path": str(out), "k": k, "models": list(context.models), "seed": seed}

    similar_models = {n: m for n, m in context.models.items() if m.has_similar_items}
    anchor_items, strata = choose_anchors(popularity, anchors, seed)
    lists = {n: m.similar_items(anchor_items, k) for n, m in similar_models.items()}
    rows = []
    for a, b in combinations(lists, 2):
        agreement = list_agreement(lists[a][0], lists[b][0])
        rows.append(pl.DataFrame({"model_a": a, "model_b": b, "item_idx": anchor_items, "stratum": strata, **agreement}))
    if rows:
        # The original item id (and name) beside the internal index.
        labels = dataset.items.select("item_idx", *[c for c in ("item_id", "name") if c in dataset.items.columns])
        per_anchor = pl.concat(rows).join(labels.with_columns(pl.col("item_idx").cast(pl.Int32)), on="item_idx",
                                          how="left", maintain_order="left")
        write_parquet(out / "similar_agreement.parquet", per_anchor)
        by_pair = per_anchor.group_by("model_a", "model_b", maintain_order=True).agg(
            pl.col("overlap", "jaccard", "rbo").mean())
        by_stratum = per_anchor.group_by("model_a", "model_b", "stratum", maintain_order=True).agg(
            pl.col("overlap", "jaccard", "rbo").mean())
        write_parquet(out / "similar_agreement_summary.parquet", by_pair)
        write_parquet(out / "similar_agreement_by_stratum.parquet", by_stratum)
        heatmap(out / "similar_overlap.png", list(lists), by_pair, "overlap", f"similar items: overlap@{k}")
        heatmap(out / "similar_rbo.png", list(lists), by_pair, "rbo", f"similar items: RBO (p={RBO_PERSISTENCE})")
        result["similar_agreement"] = by_pair.to_dicts()
        result["similar_agreement_by_stratum"] = by_stratum.to_dicts()

    distributions = {n: lists[n][1][np.isfinite(lists[n][1])].ravel() for n in lists}
    if distributions:
        histograms(out / "similarity_values.png", distributions, f"similarity values of the top-{k} similar items")
        result["similar_popularity"] = [
            {"model": n, "anchor_mean_popularity": float(popularity[anchor_items].mean()),
             "similar_mean_popularity": float(popularity[lists[n][0][lists[n][0] >= 0]].mean())} for n in lists]

    users = split.test_users
    rec_rows = []
    if len(context.models) >= 2 and len(users):
        from recsys_cli.backends import backend_for_run
        from recsys_cli.evaluation.evaluate import users_per_chunk

        filter_seen = {n: context.filter_seen(n) for n in context.models}
        with backend_for_run(context.config, backend) as runner:
            parts = runner.map_user_blocks(users_agreement, users, context.models, split.history, k, filter_seen,
                                           split.fold_in, block=users_per_chunk(k))
            result["backend"] = runner.describe()
        for a, b in combinations(context.models, 2):  # per-user values joined in user order, then the mean
            per_user = {key: np.concatenate([part[a, b][key] for part in parts]) for key in parts[0][a, b]}
            rec_rows.append({"model_a": a, "model_b": b, **{key: float(v.mean()) for key, v in per_user.items()}})
    if rec_rows:
        rec_frame = pl.DataFrame(rec_rows)
        write_parquet(out / "recommendation_agreement.parquet", rec_frame)
        heatmap(out / "recommendation_overlap.png", list(context.models), rec_frame, "overlap",
                f"recommendations: overlap@{k} over {len(users):,} test users")
        result["recommendation_agreement"] = rec_rows

    anchors_asked = resolve_anchor_items(dataset.items, item_ids or [], item_names or [])
    if len(anchors_asked) and similar_models:
        side = side_by_side(anchors_asked, {n: m.similar_items(anchors_asked, k)[0] for n, m in similar_models.items()},
                            dataset.items)
        write_parquet(out / "side_by_side.parquet", side)
        result["side_by_side"] = side.to_dicts()

    metric = metric or _headline_metric(context)
    per_user = {}
    for name in context.models:
        path = context.path / "per_user" / f"{name}.parquet"
        if path.exists():
            frame = pl.read_parquet(path)
            if metric in frame.columns:
                per_user[name] = frame.sort("user_idx")[metric].to_numpy()
    if len(per_user) >= 2:
        significance = paired_significance(per_user, metric, seed=seed, test=test)
        write_parquet(out / "significance.parquet", significance)
        result["significance"] = significance.to_dicts()

    write_json(out / "compare.json", {k: v for k, v in result.items() if k != "path"})  # stored: no run path
    append_report(context.path, result)
    return result


def users_agreement(users: np.ndarray, models: dict, history, k: int, filter_seen: dict[str, bool],
                    fold_in: bool) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Per model pair, the per-user overlap / Jaccard / RBO of the top-k recommendations of
    these users; one block of the backend's `map_user_blocks` (a Ray task on `backend: ray`).
    `recommend` batches its dense scores itself; the block bounds the lists held at once."""
    lists = {name: model.recommend(users, history, k, filter_seen=filter_seen[name], fold_in=fold_in)[0]
             for name, model in models.items()}
    return {(a, b): list_agreement(lists[a], lists[b]) for a, b in combinations(lists, 2)}


def side_by_side(anchors: np.ndarray, similar: dict[str, np.ndarray], items: pl.DataFrame) -> pl.DataFrame:
    """One row per (anchor, rank), one column per model with the similar item's name."""
    label = items.sort("item_idx").select(
        pl.col("name") if "name" in items.columns else pl.col("item_id").cast(pl.String))[:, 0].to_numpy()
    k = next(iter(similar.values())).shape[1]
    return pl.DataFrame({
        "anchor": np.repeat(label[anchors], k),
        "rank": np.tile(np.arange(1, k + 1), len(anchors)),
        **{name: label[ids].ravel() for name, ids in similar.items()},
    })


def _headline_metric(context: ComparedRun) -> str:
    metrics = context.config.get("metrics", {})
    names = metrics.get("names") or ["mrr"]
    ks = metrics.get("k") or [100]
    return f"{names[0]}@{max(ks)}"


def append_report(run_path: Path, result: dict) -> None:
    """report.md's "Compare" section from a compare result (replacing an earlier one)."""
    from recsys_cli.core.atomic import write_text
    from recsys_cli.report.tables import markdown_frame

    report = run_path / "report.md"
    text = report.read_text() if report.exists() else ""
    text = text.split("\n## Compare\n")[0].rstrip() + "\n\n## Compare\n\n"
    if "similar_agreement" in result:
        text += f"### Similar items agreement (@{result['k']})\n\n" + markdown_frame(pl.DataFrame(result["similar_agreement"])) + "\n"
    if "recommendation_agreement" in result:
        text += f"### Recommendation agreement (@{result['k']})\n\n" + markdown_frame(pl.DataFrame(result["recommendation_agreement"])) + "\n"
    if "significance" in result:
        first = result["significance"][0]
        text += (f"### Significance of {first['metric']} differences\n\n{test_label(first['test'])}, Holm-adjusted over "
                 f"the {len(result['significance'])} pairs; intervals: paired bootstrap at level {first['ci_level']:.4f} "
                 "(Bonferroni, simultaneous over the pairs at 95%).\n\n"
                 + markdown_frame(pl.DataFrame(result["significance"])) + "\n")
    if "side_by_side" in result:
        text += "### Side by side\n\n" + markdown_frame(pl.DataFrame(result["side_by_side"])) + "\n"
    write_text(report, text)
