"""The gate's condition grammar: what an unattended run must meet before its models count as
good enough to serve (`gate:` in the experiment file, `--gate` on `recsys run`).

    condition  := subject OP threshold
    subject    := MODEL "." METRIC "@" K          a model's metric on tonight's test users
                | FIGURE                          a data figure of tonight's dataset
    OP         := ">=" | ">" | "<=" | "<"
    threshold  := NUMBER                          absolute
                | "baseline" [("+" | "-") NUMBER] relative to the baseline run's value
                | NUMBER "*" "baseline"           a share of the baseline run's value

FIGURE is one of DATA_FIGURES. Examples: `ials.mrr@100 >= baseline - 0.005`,
`ease.mrr@100 >= 0.12`, `ials.ndcg@10 >= 0.98 * baseline`, `interactions >= 0.7 * baseline`,
`new_items <= 0.3`. Data conditions are checked right after ingest, before any model is
fitted; metric conditions after evaluation. The threshold is affine in the baseline —
`scale * baseline + offset` — which is what the verdict's paired or unpaired interval tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DATA_FIGURES = {
    "users": "users in the dataset",
    "items": "items in the dataset",
    "interactions": "distinct (user, item) cells",
    "events": "events after cleaning",
    "weight_median": "median interaction weight",
    "weight_max": "largest interaction weight",
    "new_users": "share of tonight's users the baseline's dataset did not have (0..1)",
    "new_items": "share of tonight's items the baseline's dataset did not have (0..1)",
}
OPERATORS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}
NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_CONDITION = re.compile(r"^\s*(?P<subject>[A-Za-z0-9_.@-]+)\s*(?P<op>>=|<=|>|<)\s*(?P<threshold>.+?)\s*$")
_THRESHOLDS = (
    (re.compile(rf"^(?P<offset>{NUMBER})$"), lambda m: (0.0, float(m["offset"]))),
    (re.compile(r"^baseline$"), lambda m: (1.0, 0.0)),
    (re.compile(rf"^baseline\s*(?P<sign>[+-])\s*(?P<offset>{NUMBER})$"),
     lambda m: (1.0, float(m["offset"]) * (1 if m["sign"] == "+" else -1))),
    (re.compile(rf"^(?P<scale>{NUMBER})\s*\*\s*baseline$"), lambda m: (float(m["scale"]), 0.0)),
)


@dataclass(frozen=True)
class Condition:
    text: str
    model: str | None  # None for a data figure
    measure: str  # metric@k, or the data figure's name
    op: str
    scale: float  # threshold = scale * baseline + offset
    offset: float

    @property
    def relative(self) -> bool:
        return self.scale != 0.0

    @property
    def is_data(self) -> bool:
        return self.model is None

    def threshold(self, baseline: float | None) -> float | None:
        """The number tonight's value is held against; None when it needs a missing baseline."""
        if self.relative and baseline is None:
            return None
        return self.scale * (baseline or 0.0) + self.offset

    def holds(self, value: float, baseline: float | None) -> bool:
        return OPERATORS[self.op](value, self.threshold(baseline))

    @property
    def higher_is_wanted(self) -> bool:
        return self.op in (">=", ">")

    def describe_threshold(self, baseline: float | None) -> str:
        """'baseline 0.1156 - 0.005', '0.98 * baseline 0.1156', or the number."""
        if not self.relative:
            return f"{self.offset:g}"
        base = "baseline" if baseline is None else f"baseline {format_number(baseline)}"
        if self.scale != 1.0:
            return f"{self.scale:g} * {base}" + (f" {'+' if self.offset > 0 else '-'} {abs(self.offset):g}" if self.offset else "")
        return base + (f" {'+' if self.offset > 0 else '-'} {abs(self.offset):g}" if self.offset else "")


def format_number(value: float) -> str:
    """Counts with thousands separators (81,553), metrics and shares to four places (0.1156)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4f}"


def parse_condition(text: str) -> Condition:
    """One condition, or ValueError saying what the grammar expects."""
    match = _CONDITION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a condition; expected e.g. 'ials.mrr@100 >= baseline - 0.005', "
                         "'ease.mrr@100 >= 0.12' or 'interactions >= 0.7 * baseline'")
    subject, op, threshold = match["subject"], match["op"], match["threshold"]
    for pattern, parts in _THRESHOLDS:
        found = pattern.match(threshold)
        if found:
            scale, offset = parts(found)
            break
    else:
        raise ValueError(f"{text!r}: threshold {threshold!r} is not a number, 'baseline', 'baseline +/- NUMBER' "
                         "or 'NUMBER * baseline'")
    if subject in DATA_FIGURES:
        return Condition(text, None, subject, op, scale, offset)
    model, dot, measure = subject.rpartition(".")
    if not dot or not model or not re.fullmatch(r"[a-z_]+@[1-9][0-9]*", measure):
        raise ValueError(f"{text!r}: {subject!r} is neither MODEL.METRIC@K (e.g. ials.mrr@100) nor a data figure "
                         f"({', '.join(DATA_FIGURES)})")
    return Condition(text, model, measure, op, scale, offset)
