"""Times a user types: `--since` / `--until` on listings, and deadlines (flags and job files)."""

from __future__ import annotations

import math
import re
import time
from datetime import date, datetime
from typing import Any

from cpnet.core.errors import CpnetError

TIME_FORMS = (
    "2h, 30m, 1d, 45s or 1w (that long ago), now, an ISO date or date-time such as 2025-03-01 or 2025-03-01T08:00 "
    "(local time unless it has an offset such as +08:00 or Z), or Unix seconds"
)
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def unix_time(value: Any, *, date_ok: bool = False) -> float:
    """Unix seconds of an ISO-8601 date-time (one without an offset is local time; a bare date only when
    `date_ok`, as local midnight), a YAML timestamp, or a number of Unix seconds. ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"expected an ISO-8601 date-time or Unix seconds, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"expected Unix seconds >= 0, got {value!r}")
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()  # naive: local time
    if isinstance(value, date):  # YAML reads an unquoted 2025-06-01 as a date
        value = value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 date-time or Unix seconds, got {type(value).__name__} {value!r}")
    text = value.strip()
    try:
        return unix_time(float(text))
    except ValueError:
        pass
    if _DATE_ONLY.match(text) and not date_ok:
        raise ValueError(f"'{text}' is a date; give a date-time such as {text}T18:00:00 (local time) or {text}T18:00:00+08:00")
    try:
        return datetime.fromisoformat(text).timestamp()  # naive: local time
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO-8601 date-time (such as 2025-06-01T18:00:00+08:00) or Unix seconds") from None


def parse_time(text: str, option: str, now_s: float | None = None) -> float:
    """`--since` / `--until` as Unix seconds; a value in none of TIME_FORMS is a CpnetError naming the option and them."""
    s = text.strip().lower()
    now = time.time() if now_s is None else now_s
    if s == "now":
        return now
    if m := _AGO.fullmatch(s):
        return now - float(m[1]) * _UNIT_S[m[2]]
    try:
        return unix_time(text, date_ok=True)
    except ValueError:
        raise CpnetError(f"{option} '{text}' is not a time; expected {TIME_FORMS}") from None
