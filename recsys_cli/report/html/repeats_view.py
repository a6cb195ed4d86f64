"""The report page's opening summary (the gate's verdict, the best model, the changes since the
baseline run) and its "Repeated evaluation" section, from metrics.json's `repeats` block
(`split: {repeats: R}` or `{folds: F}`): mean ± sd over the splits, bold where the test over
the splits (corrected for shared users when the splits are random draws) calls a model best,
for user folds every pair compared per user over all folds together (`repeats.pooled`), and
the tuning of every split: the parameters each chose and tuned against default."""

from __future__ import annotations


def repeats_section(repeats: dict | None) -> dict | None:
    if not repeats:
        return None
    stats, best = repeats["models"], repeats.get("significantly_best") or {}
    metrics = list(dict.fromkeys(m for model in stats.values() for m in model))
    rows = [{"model": model, "cells": [_cell(stats[model].get(metric), best.get(metric) == model) for metric in metrics]}
            for model in stats]
    pooled = [{"metric": r["metric"], "a": r["model_a"], "b": r["model_b"], "users": r["users"],
               "difference": f"{r['difference']:+.4f}", "interval": f"[{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}]",
               "p_holm": f"{r['p_holm']:.4f}", "verdict": r["verdict"],
               "kind": "same" if r["verdict"] == "not significant" else "win"}
              for r in repeats.get("pooled") or []]
    shared = repeats.get("shared_test_users") if repeats["kind"] == "repeats" else None
    return {"count": repeats["count"], "kind": repeats["kind"], "how": repeats.get("how", ""),
            "test": repeats.get("test"), "tuned_on": repeats.get("tuned_on"), "metrics": metrics, "rows": rows,
            "pooled": pooled, "tuned_params": _tuned_params(repeats.get("tuned_params") or {}),
            "tuned_vs_default": [_tuned_row(r) for r in repeats.get("tuned_vs_default") or []],
            "shared": None if not shared else f"{shared['mean']:.0f} ({shared['share']:.1%} of a draw's test users)"}


def _tuned_params(chosen: dict) -> list[dict]:
    return [{"split": index, "model": model,
             "params": ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())}
            for index, models in chosen.items() for model, params in models.items()]


def _tuned_row(r: dict) -> dict:
    pooled = r.get("pooled")
    return {"model": r["model"], "metric": r["metric"], "default": f"{r['default']:.4f}", "tuned": f"{r['tuned']:.4f}",
            "difference": f"{r['difference']:+.4f}", "kept": f"{r['kept_defaults']} of {r['splits']}",
            "p_holm": f"{r['p_holm']:.4f}", "verdict": r["verdict"],
            "kind": "win" if r["verdict"] == "tuned better" else "loss" if r["verdict"] == "default better" else "same",
            "pooled": None if not pooled else {
                "users": pooled["users"], "difference": f"{pooled['difference']:+.4f}",
                "interval": f"[{pooled['ci95'][0]:+.4f}, {pooled['ci95'][1]:+.4f}]", "p": f"{pooled['p_value']:.4f}"}}


def _cell(entry: dict | None, best: bool) -> dict:
    if entry is None:
        return {"text": "—", "per_split": "", "best": False}
    return {"text": f"{entry['mean']:.4f} ± {entry['sd']:.4f}", "best": best,
            "per_split": ", ".join(f"{v:.4f}" for v in entry["values"])}


def summary_section(data) -> dict | None:
    """The banner at the top: the gate's verdict with its checks, the best model on the
    headline metric, and each model's change since the baseline run with its interval."""
    from recsys_cli.evaluation.metrics import best_of
    from recsys_cli.report.verdict import change_rows, check_figures, gate_checks

    metric = data.headline_metric
    gate, baseline = data.gate, data.baseline or {}
    scored = {m: v[metric] for m, v in data.metrics.items() if metric and v.get(metric) is not None}
    best = (data.significantly_best or {}).get(metric) or best_of(scored, metric)
    if not gate and not baseline.get("baseline") and best is None:
        return None
    checks = [{"condition": c["condition"], "passed": c["passed"], "figures": check_figures(c)}
              for c in gate_checks(gate)]
    where = baseline.get("baseline") or {}
    return {"gate": None if not gate else {"passed": gate["passed"], "failed": gate.get("failed", []), "checks": checks},
            "best": best, "metric": metric, "changes": change_rows(baseline),
            "baseline": where.get("run"), "baseline_kind": where.get("kind"),
            "paired": bool(baseline.get("same_split"))}
