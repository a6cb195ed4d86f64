"""Repeated evaluation: one split is not a result.

With `split: {repeats: R}` (R seeded, independent draws) or `split: {folds: F}` (user folds)
every model is trained and scored on each split. This module turns the per-repeat summaries
into what the tables show: the mean over repeats, the sample standard deviation (ddof 1), the
per-repeat values, a 95% t-interval of the mean over repeats, and paired comparisons of every
pair of models over the repeats (the same split for both models of a pair).

The paired test over repeats is the t-test on the per-repeat differences: with R = 5 a
sign-flip test cannot go below p = 2 / 32 = 0.0625, so it could never reject at 5%.
p-values are Holm-adjusted over the model pairs of each metric.

With user folds every eligible user is a test user exactly once, so the per-user values of
all folds together are one paired sample over all users: `pooled_over_folds` compares each
pair on it (hundreds or thousands of units where the fold means give F).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from recsys_cli.evaluation.significance import ALPHA, holm, paired_t_pvalue


def seeds_for_repeats(seed: int, repeats: int) -> list[int]:
    """Split seeds of independent draws: the config's seed for the first (so `repeats: 1` is
    the plain split), then children spawned from it by numpy's SeedSequence (never seed + r,
    which would make neighbouring experiments share draws)."""
    children = np.random.SeedSequence(seed).spawn(max(repeats - 1, 0))
    return [seed] + [int(child.generate_state(1)[0]) for child in children]


def per_repeat_values(per_repeat: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, np.ndarray]]:
    """[repeat][model][metric] -> model -> metric -> values over repeats (metrics every repeat has)."""
    models = list(per_repeat[0])
    out: dict[str, dict[str, np.ndarray]] = {}
    for model in models:
        metrics = [m for m in per_repeat[0][model] if all(m in r.get(model, {}) for r in per_repeat)]
        out[model] = {m: np.array([r[model][m] for r in per_repeat], dtype=np.float64) for m in metrics}
    return out


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    from scipy.stats import t

    mean = float(np.mean(values))
    if len(values) < 2:
        return (float("nan"), float("nan"))
    half = float(t.ppf(0.5 + level / 2, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))
    return (mean - half, mean + half)


def aggregate(values: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, dict]]:
    """model -> metric -> {mean, sd, values, ci95} over repeats."""
    return {model: {metric: {"mean": float(v.mean()), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                             "values": v.tolist(), "ci95": list(t_interval(v))}
                    for metric, v in metrics.items()}
            for model, metrics in values.items()}


def paired_over_repeats(values: dict[str, dict[str, np.ndarray]], alpha: float = ALPHA,
                        lower_is_better: set[str] = frozenset()) -> list[dict]:
    """Per metric and model pair: mean and sd of the per-repeat difference a - b, the paired
    t-test p-value, Holm-adjusted over the pairs of that metric, and a verdict (for metrics
    in `lower_is_better` the smaller value wins)."""
    return _paired_table(values, lambda diff: {
        "difference_sd": float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0,
        "a_wins": int(np.sum(diff > 0)), "repeats": len(diff)}, alpha, lower_is_better)


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
                  lower_is_better: set[str]) -> list[dict]:
    """Rows of every model pair per metric (the metrics every model has): the mean paired
    difference, `describe(diff)`'s fields, the paired t-test p, Holm over the metric's pairs."""
    rows = []
    models = list(values)
    metrics = [m for m in values[models[0]] if all(m in values[x] for x in models)] if models else []
    for metric in metrics:
        block = []
        for a, b in combinations(models, 2):
            diff = values[a][metric] - values[b][metric]
            block.append({"metric": metric, "model_a": a, "model_b": b, "difference": float(diff.mean()),
                          **describe(diff), "p_value": paired_t_pvalue(diff)})
        if not block:
            continue
        for row, adjusted in zip(block, holm(np.array([r["p_value"] for r in block]))):
            a_ahead = row["difference"] < 0 if metric.split("@")[0] in lower_is_better else row["difference"] > 0
            winner = row["model_a"] if a_ahead else row["model_b"]
            row.update(p_holm=float(adjusted), verdict=f"{winner} better" if adjusted < alpha else "not significant")
        rows += block
    return rows


def summarise(per_repeat: list[dict[str, dict[str, float]]], seeds: list[int], paths: list[str],
              test_users: list[int], folds: int | None, seed: int, lower_is_better: set[str]) -> dict:
    """metrics.json's `repeats` block from the per-repeat summaries ([repeat][model][metric])."""
    values = per_repeat_values(per_repeat)
    paired = paired_over_repeats(values, lower_is_better=lower_is_better)
    return {
        "count": len(per_repeat), "kind": "user folds" if folds else "repeats",
        "how": (f"{folds} disjoint folds of the test-eligible users, seed {seed}" if folds else
                "independent draws; seeds spawned from the config's by numpy SeedSequence"),
        "seeds": seeds, "splits": paths, "test_users": test_users,
        "tuned_on": "the first split's validation part; its best parameters are used on every split",
        "models": aggregate(values), "paired": paired,
        "significantly_best": best_from_pairs(values, paired, lower_is_better),
    }


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
    text = (f"\n## Repeated evaluation ({summary['count']} {kind})\n\n"
            f"Every model trained and scored on each of {summary['count']} {kind} ({summary['how']}). "
            "Mean ± sample sd over them; bold: significantly best (paired t-test over the repeats against every "
            "other model, Holm-adjusted, 5%). The Metrics table above is the first split alone.\n\n")
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
        text += ("\n### Paired comparison over repeats\n\n| metric | a | b | a - b | sd | a wins | p (t) | p Holm | verdict |\n"
                 "|---|---|---|---|---|---|---|---|---|\n")
        for r in summary["paired"]:
            text += (f"| {r['metric']} | {r['model_a']} | {r['model_b']} | {r['difference']:.4f} | {r['difference_sd']:.4f} "
                     f"| {r['a_wins']}/{r['repeats']} | {r['p_value']:.4f} | {r['p_holm']:.4f} | {r['verdict']} |\n")
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
