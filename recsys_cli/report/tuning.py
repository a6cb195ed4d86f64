"""The tuning section of report.md, and the words both it and the terminal use for spread.

The point of the section is disclosure: a reader sees which models were searched, how hard,
on what objective, how sure the objective is, and the test score of the default beside the
tuned best — so a search that only overfits validation cannot hide.
"""

from __future__ import annotations

from pathlib import Path


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


def chosen_label(tuned: dict) -> str:
    """'defaults' when the study kept them, 'best trial' when the best replaced them."""
    kept = (tuned.get("selection") or {}).get("kept_defaults")
    return "—" if kept is None else "defaults" if kept else "best trial"


def selection_text(tuned: dict) -> str:
    """The keep-defaults rule and what it decided, in one sentence ('' for older records)."""
    selection = tuned.get("selection") or {}
    if "kept_defaults" not in selection:
        return ""
    decided = "defaults kept" if selection["kept_defaults"] else "best trial used"
    confirm = selection.get("confirm") or {}
    extra = ""
    if confirm and not confirm.get("done"):
        extra = (f"; not confirmed on {confirm['folds']} folds (about {confirm['estimated_seconds']:.0f} s of fits, "
                 f"more than a quarter of the study's {confirm['study_seconds']:.0f} s)")
    return f"{decided}: {selection['reason']}{extra}. Rule: {selection['rule']}."


def stop_text(tuned: dict) -> str:
    """'stopped by its time budget at 3 of 10 trials' for a study its timeout cut short."""
    if tuned.get("stopped_by") != "timeout":
        return ""
    done = (tuned.get("complete") or 0) + (tuned.get("pruned") or 0)
    return f"stopped by its time budget at {done} of {tuned.get('target')} trials"


def time_text(tuned: dict) -> str:
    """The study's wall time over every run that added to it (older records: the stage's)."""
    seconds, sessions = tuned.get("study_seconds", tuned.get("seconds")), tuned.get("sessions") or 1
    if seconds is None:
        return ""
    return f"{seconds:.1f} s" + (f" over {sessions} runs" if sessions > 1 else "")


def _number(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def tuning_markdown(tuning: dict) -> str:
    """`## Tuning` for report.md; '' when nothing was tuned."""
    if not tuning:
        return ""
    lines = [
        "\n## Tuning\n",
        "Searched on validation only (valid_train -> valid); test was touched once by the tuned model and once "
        "by the untuned default, each trained on the whole train part. The defaults are trial 0 and stay unless "
        "the best trial beats them beyond noise (a one-sided paired t-test over the validation users, 5%); "
        "`trained` says which the run trained.\n",
        "| model | metric | objective | trials | pruned | failed | time | valid default | valid best "
        "| trained | test default | test tuned | worse on test |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, t in tuning.items():
        worse = {True: "**yes**", False: "no", None: "—"}[t.get("worse_on_test")]
        done = t["complete"] + t["pruned"]
        trials = f"{done}" + (f" of {t['target']} (timeout)" if t.get("stopped_by") == "timeout" else "")
        lines.append(
            f"| {name} | {t['metric']} | {t.get('objective') or ''} | {trials} | {t['pruned']} | {t['failed']} "
            f"| {time_text(t)} | {_number(t['default_validation'])} | {_number(t['best_validation'])} "
            f"| {chosen_label(t)} | {_number(t.get('default_test'))} | {_number(t['test'])} | {worse} |")
    lines.append("")
    for name, t in tuning.items():
        for text in (selection_text(t), stop_text(t)):
            if text:
                lines.append(f"- {name}: {text}")
        spreads = t.get("validation_spread", {})
        for which in ("default", "best"):
            text = spread_text(spreads.get(which, {}))
            if text:
                lines.append(f"- {name}, validation {which}: {text}")
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["best_params"].items())
        lines.append(f"- {name}, trained parameters: {params}")
        warning = worse_on_test_warning(name, t)
        if warning:
            lines.append(f"- **warning** — {warning}")
    return "\n".join(lines) + "\n"


def write_outputs(folder: Path, outcome, entry_name: str, model_type: str, params: dict,
                  storage_path: Path, study_name: str) -> list[str]:
    """best.yaml, trials.parquet and PNG plots; returns the files written (relative)."""
    import yaml

    from recsys_cli.core.atomic import write_parquet, write_text

    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "best.yaml", yaml.safe_dump(
        [{"name": entry_name, "type": model_type, "params": params}], sort_keys=False))
    write_parquet(folder / "trials.parquet", outcome.trials)
    return ["best.yaml", "trials.parquet"] + write_plots(folder, storage_path, study_name, outcome.trials)


def write_plots(folder: Path, storage_path: Path, study_name: str, trials) -> list[str]:
    """history.png, importances.png and slice.png: the same charts as report.html's tuning
    section (pruned trials shown, the metric named, log axes where the space is log),
    skipped, not failed, when the study is too small for one."""
    import matplotlib.pyplot as plt
    import optuna

    from recsys_cli.core.atomic import write_atomically, write_json
    from recsys_cli.report.html import charts
    from recsys_cli.tuning.study import open_storage, study_importances, study_space

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage_path))
    metric, model = study.user_attrs.get("metric", "objective"), study.user_attrs.get("model", study_name)
    importances, note = study_importances(study)  # fANOVA costs seconds: computed once, kept for the report
    write_json(folder / "importances.json", {"importances": importances, "note": note})
    figures = {"history.png": lambda: charts.tuning_history(trials, metric, model),
               "importances.png": lambda: importances and charts.importance_bars(
                   importances, f"{model}: parameter importances (fANOVA)"),
               "slice.png": lambda: charts.slices(trials, study_space(study), metric, model)}
    written = ["importances.json"]
    for name, draw in figures.items():
        figure = draw() if trials.height else None
        if not figure:
            continue
        write_atomically(folder / name, lambda tmp: figure.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
        plt.close(figure)
        written.append(name)
    return written
