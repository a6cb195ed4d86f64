"""The tuning section of report.md, and the words both it and the terminal use for spread.

The point of the section is disclosure: a reader sees which models were searched, how hard,
on what objective, how sure the objective is, and the test score of the default beside the
tuned best — so a search that only overfits validation cannot hide.
"""

from __future__ import annotations


def spread_text(spread: dict) -> str:
    """'± sd over folds' or '[low, high]' bootstrap interval; '' when not recorded."""
    if "sd" in spread:
        return f"sd {spread['sd']:.4f} over {len(spread['fold_values'])} folds"
    if "ci95" in spread:
        low, high = spread["ci95"]
        return f"95% CI [{low:.4f}, {high:.4f}] over validation users"
    return ""


def worse_on_test_warning(name: str, tuned: dict) -> str | None:
    if not tuned.get("worse_on_test"):
        return None
    return (f"{name}: the tuned parameters score {tuned['test']:.4f} on test, below the untuned default's "
            f"{tuned['default_test']:.4f} ({tuned['metric']}) although they won on validation "
            f"({tuned['best_validation']:.4f} vs {tuned['default_validation']:.4f}): the search may overfit "
            "the validation part (try tune.folds, more validation users or a narrower space)")


def _number(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def tuning_markdown(tuning: dict) -> str:
    """`## Tuning` for report.md; '' when nothing was tuned."""
    if not tuning:
        return ""
    lines = [
        "\n## Tuning\n",
        "Searched on validation only (valid_train -> valid); test was touched once by the tuned best and once "
        "by the untuned default, each trained on the whole train part.\n",
        "| model | metric | objective | trials complete | pruned | failed | valid default | valid best "
        "| test default | test best | worse on test |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, t in tuning.items():
        worse = {True: "**yes**", False: "no", None: "—"}[t.get("worse_on_test")]
        lines.append(
            f"| {name} | {t['metric']} | {t.get('objective') or ''} | {t['complete']} | {t['pruned']} | {t['failed']} "
            f"| {_number(t['default_validation'])} | {_number(t['best_validation'])} "
            f"| {_number(t.get('default_test'))} | {_number(t['test'])} | {worse} |")
    lines.append("")
    for name, t in tuning.items():
        spreads = t.get("validation_spread", {})
        for which in ("default", "best"):
            text = spread_text(spreads.get(which, {}))
            if text:
                lines.append(f"- {name}, validation {which}: {text}")
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["best_params"].items())
        lines.append(f"- {name}, best parameters: {params}")
        warning = worse_on_test_warning(name, t)
        if warning:
            lines.append(f"- **warning** — {warning}")
    return "\n".join(lines) + "\n"
