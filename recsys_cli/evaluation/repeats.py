"""Repeated evaluation: one split is not a result.

With `split: {repeats: R}` (R seeded draws) or `split: {folds: F}` (user folds) every model is
tuned (each split on its own validation part), trained and scored on each split. This module
turns the per-split summaries into what the tables show: the mean over the splits, the
sample standard deviation (ddof 1), the per-split values, a 95% t-interval of the mean, and
paired comparisons of every pair of models over the splits (the same split for both models
of a pair), p-values Holm-adjusted over the model pairs of each metric.

Which test over the splits:
- Repeats: random draws of test users overlap (two draws of 20% of the users share about 20%
  of their test users), so their means are not independent and the plain paired t-test over
  them is too sure. The Nadeau & Bengio (2003) corrected resampled t-test replaces the
  variance of the mean, s^2 / J, by s^2 (1/J + n_test/n_train): J repeats, n_test the test
  users of a draw and n_train the other users with training data (means over the draws). The
  users the draws actually share are reported beside it. When a draw tests every user (a
  split that holds out interactions of everyone) n_train is 0 and no test over the repeats
  is made: the repeats only resample the held-out interactions of the same users.
- User folds: the folds' test users are disjoint, so the paired t-test over the folds stands,
  and every eligible user is a test user exactly once: `pooled_over_folds` pairs each pair of
  models over all users (hundreds or thousands of units where the fold means give F).
With R = 5 a sign-flip test cannot go below p = 2 / 32 = 0.0625, so it could never reject at
5%: the tests over splits are t-tests.

Tuned against default: a tuned model's untuned defaults are scored on every split too
(`tuned_vs_default`): the difference over the splits with the same test, and with folds the
pooled per-user difference.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from recsys_cli.core.seeds import stream_seed
from recsys_cli.evaluation.statistics import t_interval
from recsys_cli.evaluation.significance import ALPHA, holm, paired_t_pvalue

REPEAT_STREAM = 0x9E9EA7  # tags the split seeds of repeats 1.., apart from every other purpose's


def seeds_for_repeats(seed: int, repeats: int) -> list[int]:
    """Split seeds of independent draws: the config's seed for the first (so `repeats: 1` is
    the plain split), then seeds of their own stream under it (never seed + r, which would
    make neighbouring experiments share draws, nor SeedSequence(seed).spawn, whose first
    child is the first split's validation seed)."""
    return [seed] + [stream_seed(seed, REPEAT_STREAM, r) for r in range(1, repeats)]


def corrected_t_pvalue(diff: np.ndarray, ratio: float) -> float:
    """Nadeau & Bengio's corrected resampled t-test of mean(diff) = 0 over J repeats, two-
    sided: t = mean / sqrt(s^2 (1/J + ratio)) on J - 1 df, `ratio` = n_test / n_train
    (0 gives the plain paired t-test; infinite gives 1)."""
    from scipy.stats import t

    diff = np.asarray(diff, dtype=np.float64)
    if len(diff) < 2 or not np.any(diff) or not np.isfinite(ratio):
        return 1.0
    variance = float(np.var(diff, ddof=1))
    if variance == 0.0:
        return 0.0  # no spread: every repeat moved the same nonzero way
    statistic = float(diff.mean()) / np.sqrt(variance * (1 / len(diff) + ratio))
    return float(2 * t.sf(abs(statistic), len(diff) - 1))


def shared_test_users(users: list[np.ndarray]) -> dict:
    """Test users every pair of splits has in common: per pair, their mean and their mean
    share of a split's test users."""
    pairs = [[a, b, int(np.intersect1d(users[a], users[b], assume_unique=True).size)]
             for a, b in combinations(range(len(users)), 2)]
    mean = float(np.mean([p[2] for p in pairs])) if pairs else 0.0
    tested = float(np.mean([len(u) for u in users])) if users else 0.0
    return {"pairs": pairs, "mean": mean, "share": mean / tested if tested else 0.0}


def per_repeat_values(per_repeat: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, np.ndarray]]:
    """[repeat][model][metric] -> model -> metric -> values over repeats (metrics every repeat has)."""
    models = list(per_repeat[0])
    out: dict[str, dict[str, np.ndarray]] = {}
    for model in models:
        metrics = [m for m in per_repeat[0][model] if all(m in r.get(model, {}) for r in per_repeat)]
        out[model] = {m: np.array([r[model][m] for r in per_repeat], dtype=np.float64) for m in metrics}
    return out


def aggregate(values: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, dict]]:
    """model -> metric -> {mean, sd, values, ci95} over repeats."""
    return {model: {metric: {"mean": float(v.mean()), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                             "values": v.tolist(), "ci95": list(t_interval(v))}
                    for metric, v in metrics.items()}
            for model, metrics in values.items()}


def paired_over_repeats(values: dict[str, dict[str, np.ndarray]], alpha: float = ALPHA,
                        lower_is_better: set[str] = frozenset(), ratio: float | None = None) -> list[dict]:
    """Per metric and model pair: mean and sd of the per-repeat difference a - b, the paired
    t-test p-value (Nadeau & Bengio's corrected one when `ratio` = n_test / n_train is
    given), Holm-adjusted over the pairs of that metric, and a verdict (for metrics in
    `lower_is_better` the smaller value wins)."""
    return _paired_table(values, lambda diff: {
        "difference_sd": float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0,
        "a_wins": int(np.sum(diff > 0)), "repeats": len(diff)}, alpha, lower_is_better,
        test=None if ratio is None else (lambda diff: corrected_t_pvalue(diff, ratio)))


def pooled_over_folds(per_user: dict[str, dict[str, np.ndarray]], alpha: float = ALPHA,
                      lower_is_better: set[str] = frozenset()) -> list[dict]:
    """Per metric and model pair, over every user of every fold (`per_user`: model ->
    metric -> values in one user order for all models): the mean difference a - b, its 95%
    t-interval, the paired t-test's p-value Holm-adjusted over the pairs of that metric, and
    a verdict. The t-test, not the sign-flip test of the single-split significance: with
    every user of a large data set it runs on each re-run in milliseconds per pair, and
    over hundreds of users or more its normal approximation is close."""
    return _paired_table(per_user, lambda diff: {"ci95": list(t_interval(diff)), "users": len(diff)},
                         alpha, lower_is_better)


def _paired_table(values: dict[str, dict[str, np.ndarray]], describe, alpha: float,
                  lower_is_better: set[str], test=None) -> list[dict]:
    """Rows of every model pair per metric (the metrics every model has): the mean paired
    difference, `describe(diff)`'s fields, the p of `test` (the paired t-test by default),
    Holm over the metric's pairs."""
    test = test or paired_t_pvalue
    rows = []
    models = list(values)
    metrics = [m for m in values[models[0]] if all(m in values[x] for x in models)] if models else []
    for metric in metrics:
        block = []
        for a, b in combinations(models, 2):
            diff = values[a][metric] - values[b][metric]
            block.append({"metric": metric, "model_a": a, "model_b": b, "difference": float(diff.mean()),
                          **describe(diff), "p_value": test(diff)})
        if not block:
            continue
        for row, adjusted in zip(block, holm(np.array([r["p_value"] for r in block]))):
            a_ahead = row["difference"] < 0 if metric.split("@")[0] in lower_is_better else row["difference"] > 0
            winner = row["model_a"] if a_ahead else row["model_b"]
            row.update(p_holm=float(adjusted), verdict=f"{winner} better" if adjusted < alpha else "not significant")
        rows += block
    return rows


def resampling_ratio(test_users: list[np.ndarray], train_users: list[np.ndarray]) -> float:
    """n_test / n_train of the corrected test: a draw's test users over the users with
    training data it does not test (means over the draws); infinite when it tests them all."""
    n_test = float(np.mean([len(u) for u in test_users]))
    n_train = float(np.mean([np.setdiff1d(train, test, assume_unique=True).size
                             for train, test in zip(train_users, test_users)]))
    return n_test / n_train if n_train else float("inf")


def test_description(folds: int | None, ratio: float | None) -> str:
    if folds:
        return "paired t-test over the folds (their test users are disjoint)"
    if ratio is None or not np.isfinite(ratio):
        return "none: every draw tests every user, so the repeats are not independent draws of users"
    return (f"Nadeau & Bengio corrected resampled t-test (variance x (1/J + n_test/n_train), "
            f"n_test/n_train = {ratio:.3f}), as random draws share test users")


def summarise(per_repeat: list[dict[str, dict[str, float]]], seeds: list[int], paths: list[str],
              test_users: list[np.ndarray], train_users: list[np.ndarray], folds: int | None, seed: int,
              lower_is_better: set[str], tuned_params: dict | None = None) -> dict:
    """metrics.json's `repeats` block from the per-split summaries ([split][model][metric]),
    each split's test users and users with training data, and the parameters each split's
    tuning chose (split index -> model -> params)."""
    values = per_repeat_values(per_repeat)
    ratio = None if folds else resampling_ratio(test_users, train_users)
    paired = paired_over_repeats(values, lower_is_better=lower_is_better, ratio=ratio)
    block = {
        "count": len(per_repeat), "kind": "user folds" if folds else "repeats",
        "how": (f"{folds} disjoint folds of the test-eligible users, seed {seed}" if folds else
                "independent draws; seeds of their own stream under the config's (numpy SeedSequence)"),
        "seeds": seeds, "splits": paths, "test_users": [len(u) for u in test_users],
        "shared_test_users": shared_test_users(test_users),
        "test": test_description(folds, ratio),
        "n_test_over_n_train": ratio if ratio is not None and np.isfinite(ratio) else None,
        "models": aggregate(values), "paired": paired,
        "significantly_best": best_from_pairs(values, paired, lower_is_better),
    }
    if tuned_params:
        block["tuned_on"] = ("each split's own validation part, carved from that split's train: every split "
                             "tuned, trained and tested on its own, so no split's test pairs were seen by the "
                             "search that chose its parameters")
        block["tuned_params"] = tuned_params
    return block


def tuned_against_default(models: dict[str, dict], ratio: float | None, folds: bool,
                          alpha: float = ALPHA) -> list[dict]:
    """Per tuned model (`models`: name -> {metric, tuned, default: values over the splits,
    kept: whether each split kept the defaults, pooled: per-user tuned - default over all
    folds or None}): the mean difference tuned - default over the splits with the test of
    the splits (for repeats the corrected one, `ratio` None: no test), Holm over the models,
    and for folds the pooled per-user difference, its 95% t-interval and paired t-test,
    which then gives the verdict."""
    rows = []
    for name, entry in models.items():
        diff = np.asarray(entry["tuned"]) - np.asarray(entry["default"])
        p = paired_t_pvalue(diff) if folds else corrected_t_pvalue(diff, float("inf") if ratio is None else ratio)
        row = {"model": name, "metric": entry["metric"], "tuned": float(np.mean(entry["tuned"])),
               "default": float(np.mean(entry["default"])), "difference": float(diff.mean()),
               "per_split": diff.tolist(), "kept_defaults": int(sum(entry["kept"])), "splits": len(diff),
               "p_value": p}
        pooled = entry.get("pooled")
        if pooled is not None:
            row["pooled"] = {"users": len(pooled), "difference": float(pooled.mean()),
                             "ci95": list(t_interval(pooled)), "p_value": paired_t_pvalue(pooled)}
        rows.append(row)
    for row, adjusted in zip(rows, holm(np.array([r["p_value"] for r in rows]))):
        judged = row.get("pooled") or {"p_value": adjusted, "difference": row["difference"]}
        row["p_holm"] = float(adjusted)
        same = row["kept_defaults"] == row["splits"]
        row["verdict"] = ("the same model: the defaults were kept on every split" if same
                          else "not significant" if judged["p_value"] >= alpha
                          else "tuned better" if judged["difference"] > 0 else "default better")
    return rows


def best_from_pairs(values: dict[str, dict[str, np.ndarray]], paired: list[dict], lower_is_better: set[str]) -> dict:
    """metric -> the model with the best mean if the paired table (Holm over all pairs of that
    metric) calls it better than every other model, else None — so the bold agrees with the
    table printed next to it."""
    out = {}
    for metric in dict.fromkeys(r["metric"] for r in paired):
        means = {model: float(v[metric].mean()) for model, v in values.items()}
        best = (min if metric.split("@")[0] in lower_is_better else max)(means, key=means.get)
        rows = [r for r in paired if r["metric"] == metric and best in (r["model_a"], r["model_b"])]
        out[metric] = best if all(r["verdict"] == f"{best} better" for r in rows) else None
    return out


def markdown(summary: dict, best: dict[str, str | None]) -> str:
    """report.md section: mean ± sd per model and metric (bold: significantly best over the
    repeats), the per-repeat values and the paired comparisons."""
    stats, kind = summary["models"], summary["kind"]
    models = list(stats)
    metrics = list(dict.fromkeys(m for model in models for m in stats[model]))
    shared = summary.get("shared_test_users")
    text = (f"\n## Repeated evaluation ({summary['count']} {kind})\n\n"
            f"Every model trained and scored on each of {summary['count']} {kind} ({summary['how']}), "
            "a tuned one tuned on that split's own validation part. Mean ± sample sd over them; bold: significantly best "
            f"against every other model, Holm-adjusted, 5%, by the test over the splits: "
            f"{summary.get('test', 'paired t-test over the repeats')}. The Metrics table above is the first split "
            "alone.\n\n")
    if shared and summary["kind"] == "repeats":
        text += (f"Test users shared by two draws: {shared['mean']:.0f} on average "
                 f"({shared['share']:.1%} of a draw's test users).\n\n")
    text += "| model | " + " | ".join(metrics) + " |\n|" + "---|" * (len(metrics) + 1) + "\n"
    for model in models:
        cells = []
        for metric in metrics:
            entry = stats[model].get(metric)
            cell = "" if entry is None else f"{entry['mean']:.4f} ± {entry['sd']:.4f}"
            cells.append(f"**{cell}**" if best.get(metric) == model and cell else cell)
        text += f"| {model} | " + " | ".join(cells) + " |\n"
    text += "\n### Per repeat\n\n| model | metric | " + " | ".join(str(i) for i in range(summary["count"])) + " |\n"
    text += "|" + "---|" * (summary["count"] + 2) + "\n"
    for model in models:
        for metric, entry in stats[model].items():
            text += f"| {model} | {metric} | " + " | ".join(f"{v:.4f}" for v in entry["values"]) + " |\n"
    if summary["paired"]:
        text += ("\n### Paired comparison over repeats\n\n| metric | a | b | a - b | sd | a wins | p | p Holm | verdict |\n"
                 "|---|---|---|---|---|---|---|---|---|\n")
        for r in summary["paired"]:
            text += (f"| {r['metric']} | {r['model_a']} | {r['model_b']} | {r['difference']:.4f} | {r['difference_sd']:.4f} "
                     f"| {r['a_wins']}/{r['repeats']} | {r['p_value']:.4f} | {r['p_holm']:.4f} | {r['verdict']} |\n")
    text += tuning_markdown(summary)
    if summary.get("pooled"):
        text += ("\n### Paired per user, pooled over the folds\n\nEvery user is tested in exactly one fold, so the "
                 "folds' per-user values together pair the models over all users: mean difference, 95% t-interval, "
                 "paired t-test, Holm-adjusted over the pairs of each metric.\n\n"
                 "| metric | a | b | users | a - b | 95% interval | p | p Holm | verdict |\n"
                 "|---|---|---|---|---|---|---|---|---|\n")
        for r in summary["pooled"]:
            text += (f"| {r['metric']} | {r['model_a']} | {r['model_b']} | {r['users']} | {r['difference']:.4f} "
                     f"| [{r['ci95'][0]:.4f}, {r['ci95'][1]:.4f}] | {r['p_value']:.4f} | {r['p_holm']:.4f} "
                     f"| {r['verdict']} |\n")
    return text


def tuning_markdown(summary: dict) -> str:
    """The repeats section's tuning part: what each split's tuning chose, and tuned against
    default over the splits (and per user over all folds)."""
    text = ""
    if summary.get("tuned_params"):
        text += (f"\n### Tuned on each split\n\nTuned on {summary['tuned_on']}.\n\n"
                 "| split | model | parameters |\n|---|---|---|\n")
        for index, models in summary["tuned_params"].items():
            for model, params in models.items():
                shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
                text += f"| {index} | {model} | {shown} |\n"
    rows = summary.get("tuned_vs_default") or []
    pooled_note = ", and per user pooled over the folds (95% t-interval, paired t-test)"
    if rows:
        text += ("\n### Tuned against default\n\nThe untuned defaults trained and tested on every split beside the "
                 "tuned model; tuned - default over the splits by the test above, Holm over the models"
                 + (pooled_note if "pooled" in rows[0] else "")
                 + ".\n\n| model | metric | default | tuned | tuned - default | defaults kept | p Holm "
                 + ("| users | pooled per user | 95% interval | p pooled " if "pooled" in rows[0] else "")
                 + "| verdict |\n|" + "---|" * (12 if "pooled" in rows[0] else 8) + "\n")
        for r in rows:
            pooled = r.get("pooled")
            text += (f"| {r['model']} | {r['metric']} | {r['default']:.4f} | {r['tuned']:.4f} | {r['difference']:+.4f} "
                     f"| {r['kept_defaults']} of {r['splits']} | {r['p_holm']:.4f} "
                     + (f"| {pooled['users']} | {pooled['difference']:+.4f} | [{pooled['ci95'][0]:+.4f}, "
                        f"{pooled['ci95'][1]:+.4f}] | {pooled['p_value']:.4f} " if pooled else "")
                     + f"| {r['verdict']} |\n")
    return text
