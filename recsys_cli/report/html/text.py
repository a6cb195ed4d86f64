"""Small text renderings for the report page: durations, sizes, yes/no answers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


def duration(manifest: dict) -> str | None:
    """The run's wall time as the driver measured it (`wall_seconds`; of the last session when
    the run was resumed), else from the second-resolution timestamps, else its stages' time."""
    started, finished = manifest.get("started_at"), manifest.get("finished_at")
    if manifest.get("wall_seconds") is not None:
        text = _seconds(manifest["wall_seconds"])
        return f"{text} (the last of {len(manifest['resumed_at']) + 1} sessions)" if manifest.get("resumed_at") else text
    if started and finished and not manifest.get("resumed_at"):
        seconds = (parse_time(finished) - parse_time(started)).total_seconds()
    else:  # a resumed or unfinished run: the time its stages took
        seconds = sum(entry.get("seconds") or 0 for entry in manifest.get("stages", {}).values()
                      if not entry.get("reused_from"))
    return _seconds(seconds)


def _seconds(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{rest:.1f} s"


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def human_bytes(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return ""


def unreachable(path: Path | None, what: str) -> str:
    return f"the {what} recorded in the manifest is not reachable from here" if path is None else ""


def filter_seen_text(value) -> str | None:
    if not isinstance(value, dict):
        return None if value is None else ("yes" if value else "no")
    kept = sorted(m for m, seen in value.items() if not seen)
    return "yes, for every model" if not kept else f"yes, except {', '.join(kept)}"
