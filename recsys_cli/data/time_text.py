"""Times as people write them in configs and options: a date (`before: 2022-12-16`) and a
window (`last: 7d`). Checked when the config is read, used when the split is cut."""

from __future__ import annotations

from datetime import datetime, timezone

from recsys_cli.core.errors import InputError


def parse_date(text: str) -> int:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise InputError(f"before {text!r} is not a date; expected YYYY-MM-DD or an ISO datetime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_window(text: str) -> int:
    """'7d', '12h', '2w', '90m', '3600s' -> seconds."""
    import re

    match = re.fullmatch(r"\s*([0-9]+)\s*([smhdw])\s*", str(text))
    if not match or int(match.group(1)) == 0:
        raise InputError(f"last {text!r} is not a time window; expected a positive number and a unit "
                         f"({', '.join(WINDOW_UNITS)}), e.g. 7d or 12h")
    return int(match.group(1)) * WINDOW_UNITS[match.group(2)]
