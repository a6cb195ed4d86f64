"""The opening of every report: the gate's verdict, the best model, and each model's change
since the baseline run with its interval — in the terminal, report.md and report.html alike."""

from __future__ import annotations

from recsys_cli.config.gate import format_number


def _signed(value: float) -> str:
    return f"{value:+.4f}"



def change_rows(baseline: dict) -> list[dict]:
    """One row per model and metric compared with the baseline run."""
    rows = []
    for model, metrics in (baseline.get("comparisons") or {}).items():
        for metric, c in metrics.items():
            interval = c.get("ci95")
            rows.append({"model": model, "metric": metric, "tonight": c["tonight"], "baseline": c["baseline"],
                         "difference": c["difference"],
                         "interval": f"[{_signed(interval[0])}, {_signed(interval[1])}]" if interval else "—",
                         "significant": bool(interval) and (interval[0] > 0 or interval[1] < 0),
                         "how": "paired" if c.get("paired") else "unpaired"})
    return rows


def baseline_lines(baseline: dict) -> list[str]:
    if not baseline.get("baseline"):
        return []
    where = baseline["baseline"]
    lines = [f"since {where['kind']} run {where['run']} "
             f"({'the same test pairs: paired per user' if baseline.get('same_split') else 'another split: unpaired'}):"]
    for row in change_rows(baseline):
        lines.append(f"  {row['model']} {row['metric']} {row['tonight']:.4f} ({_signed(row['difference'])}, "
                     f"95% {row['interval']}{', significant' if row['significant'] else ''})")
    return lines


def gate_lines(gate: dict | None) -> list[str]:
    if not gate:
        return []
    lines = ["gate: passed" if gate["passed"] else f"gate FAILED: {'; '.join(gate['failed'])}"]
    for check in gate_checks(gate):
        mark = "ok  " if check["passed"] else "FAIL"
        lines.append(f"  {mark} {check['condition']}: {check_figures(check)}")
    return lines


def gate_checks(gate: dict | None) -> list[dict]:
    """Every check of a gate verdict: the data checks, then the metric conditions."""
    return [c for part in ("data", "metrics") for c in ((gate or {}).get(part) or {}).get("checks", [])]


def check_figures(check: dict) -> str:
    """A check's value against its threshold, its interval where it has one, and its note."""
    if check.get("value") is None or check.get("threshold") is None:
        return check.get("note") or check.get("message") or "not checked"
    text = f"{format_number(check['value'])} against {format_number(check['threshold'])}"
    if check.get("ci95"):
        low, high = check["ci95"]
        text += f" (margin {_signed(check['difference'])}, 95% [{_signed(low)}, {_signed(high)}], {check['how'].split(':')[0]})"
    return text + (f"; {check['note']}" if check.get("note") else "")


def markdown(gate: dict | None, baseline: dict, best_model: str | None, metric: str) -> str:
    """report.md's opening section."""
    from recsys_cli.report.tables import md_text

    text = "## Summary\n\n"
    if gate:
        text += ("**Gate: passed.**\n\n" if gate["passed"] else
                 "**Gate: FAILED** — " + "; ".join(md_text(f) for f in gate["failed"]) + "\n\n")
        checks = gate_checks(gate)
        if checks:
            text += "| condition | verdict | figures |\n|---|---|---|\n"
            for c in checks:
                verdict = "passed" if c["passed"] else "**failed**"
                text += f"| `{c['condition']}` | {verdict} | {md_text(check_figures(c))} |\n"
            text += "\n"
    if best_model:
        text += f"Best model by {metric}: **{md_text(best_model)}**.\n\n"
    rows = change_rows(baseline)
    if rows:
        where = baseline["baseline"]
        text += (f"Change since the {where['kind']} run `{where['run']}` "
                 f"({'paired per user: the same test pairs' if baseline.get('same_split') else 'unpaired: another split'}):\n\n"
                 "| model | metric | tonight | baseline | change | 95% interval |\n|---|---|---|---|---|---|\n")
        for r in rows:
            text += (f"| {md_text(r['model'])} | {r['metric']} | {r['tonight']:.4f} | {r['baseline']:.4f} | "
                     f"{_signed(r['difference'])}{' ★' if r['significant'] else ''} | {r['interval']} |\n")
        text += "\n"
    return text

