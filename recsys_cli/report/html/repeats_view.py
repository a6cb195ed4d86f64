"""The report page's "Repeated evaluation" section, from metrics.json's `repeats` block
(`split: {repeats: R}` or `{folds: F}`): mean ± sd over the splits, bold where the paired
t-test over the splits calls a model best, and, for user folds, every pair compared per user
over all folds together (`repeats.pooled`)."""

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
    return {"count": repeats["count"], "kind": repeats["kind"], "how": repeats.get("how", ""),
            "tuned_on": repeats.get("tuned_on"), "metrics": metrics, "rows": rows, "pooled": pooled}


def _cell(entry: dict | None, best: bool) -> dict:
    if entry is None:
        return {"text": "—", "per_split": "", "best": False}
    return {"text": f"{entry['mean']:.4f} ± {entry['sd']:.4f}", "best": best,
            "per_split": ", ".join(f"{v:.4f}" for v in entry["values"])}
