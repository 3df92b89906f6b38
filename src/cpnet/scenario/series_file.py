"""Read a time series (electricity price, carbon intensity) from a CSV file into a `core.energy.Series`.

Format: a header line, then one row per point. The timestamp column and the value column are the
first two columns unless named (`time_column`, `value_column`). A timestamp is either

* ISO-8601 (`2020-01-01 00:15:00`, `2020-01-01T00:15:00+01:00`, `...Z`): a timestamp without an
  offset is read as UTC, or as `utc_offset_s` seconds east of UTC when the scenario gives one; or
* Unix seconds (a number), always UTC.

The first data row decides which; every row must then use the same kind.

Checks (each an InputError naming the file and the 1-based line): a value that is not a finite
number, a timestamp that does not parse, a timestamp not later than the one before (unsorted or
duplicate), and a gap: a step longer than `max_step_s`, by default GAP_FACTOR (1.5) x the file's
median step (so a 15-min file tolerates nothing longer than 22.5 min, and a file that mixes 15-
and 30-min stretches with a 30-min median accepts both).

Repetition rule: the returned Series has `period_s = span + one median step`, i.e. it covers the
last point for one step and then repeats cyclically from its first point (a year of carbon data
replays the year; the last point is not held for ever).
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from cpnet.core.energy import Series
from cpnet.core.errors import InputError

GAP_FACTOR = 1.5


@dataclass(frozen=True, slots=True)
class SeriesFileOptions:
    """How to read one series file; `what` names the quantity for the label (e.g. "carbon intensity")."""

    what: str
    time_column: str | None = None
    value_column: str | None = None
    scale: float = 1.0
    utc_offset_s: float = 0.0
    max_step_s: float | None = None


def load_series_file(path: str | os.PathLike[str], options: SeriesFileOptions) -> Series:
    """Read `path` (see the module docstring for the format, the checks and the repetition rule)."""
    p = Path(path)
    try:
        stat = p.stat()
    except FileNotFoundError:
        raise InputError(str(p), "series file not found") from None
    except OSError as exc:
        raise InputError(str(p), f"cannot read series file ({exc.strerror})") from None
    # Cached by file identity: a scenario loaded many times (tests, sweeps) parses its series once.
    return _load_cached(str(p), stat.st_mtime_ns, stat.st_size, options)


@lru_cache(maxsize=32)
def _load_cached(path: str, _mtime_ns: int, _size: int, options: SeriesFileOptions) -> Series:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return _parse(path, _rows(fh), options)
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(path, f"cannot read series file ({exc.strerror})") from None


def _rows(fh: Iterator[str]) -> Iterator[tuple[int, list[str]]]:
    """(1-based line, cells) of every non-blank record."""
    reader = csv.reader(fh)
    for cells in reader:
        if cells and any(c.strip() for c in cells):
            yield reader.line_num, cells


def _parse(path: str, rows: Iterator[tuple[int, list[str]]], opt: SeriesFileOptions) -> Series:
    name = Path(path).name
    header_item = next(rows, None)
    if header_item is None:
        raise InputError(path, "empty file; expected a header line (e.g. 'time,value') and one row per point")
    header_line, header = header_item
    header = [h.strip() for h in header]
    t_col = _column(path, header_line, header, opt.time_column, 0, "time_column")
    v_col = _column(path, header_line, header, opt.value_column, 1, "value_column")
    need = max(t_col, v_col) + 1
    tz = timezone(timedelta(seconds=opt.utc_offset_s)) if opt.utc_offset_s else UTC

    times: list[float] = []
    values: list[float] = []
    lines: list[int] = []
    unix: bool | None = None
    for line, cells in rows:
        if len(cells) < need:
            raise InputError(path, f"expected at least {need} columns, got {len(cells)}", line=line)
        raw_t, raw_v = cells[t_col].strip(), cells[v_col].strip()
        if unix is None:
            unix = _is_number(raw_t)
        t = _parse_time(path, line, raw_t, unix, tz)
        try:
            v = float(raw_v)
        except ValueError:
            raise InputError(path, f"value {raw_v!r} in column '{header[v_col]}' is not a number", line=line) from None
        if not math.isfinite(v):
            raise InputError(path, f"value {raw_v!r} in column '{header[v_col]}' is not a finite number", line=line)
        if times and t <= times[-1]:
            kind = "duplicate" if t == times[-1] else "unsorted"
            raise InputError(
                path,
                f"{kind} time {raw_t!r}: not later than {_iso(times[-1])} on line {lines[-1]}; rows must be in strictly increasing time",
                line=line,
            )
        times.append(t)
        values.append(v * opt.scale)
        lines.append(line)
    if not times:
        raise InputError(path, "no data rows after the header; expected one row per point", line=header_line)

    step = statistics.median(b - a for a, b in pairwise(times)) if len(times) > 1 else 0.0
    limit = opt.max_step_s if opt.max_step_s is not None else GAP_FACTOR * step
    if len(times) > 1:
        for i in range(1, len(times)):
            gap = times[i] - times[i - 1]
            if gap > limit:
                rule = f"max_step_s {limit:g} s" if opt.max_step_s is not None else f"{GAP_FACTOR:g} x the median step {step:g} s"
                raise InputError(
                    path,
                    f"gap: {_iso(times[i - 1])} (line {lines[i - 1]}) to {_iso(times[i])} is {gap:g} s; "
                    f"expected a step of {step:g} s (at most {rule}); fill the gap or set max_step_s",
                    line=lines[i],
                )
    label = f"{opt.what} from {name} ('{header[v_col]}')"
    if opt.scale != 1.0:
        label += f" x {opt.scale:g}"
    period = (times[-1] - times[0]) + step if step > 0 else None
    return Series(tuple(times), tuple(values), label, period)


def _column(path: str, line: int, header: list[str], name: str | None, default: int, option: str) -> int:
    if name is None:
        if len(header) <= default:
            raise InputError(path, f"header has {len(header)} column(s); expected a time and a value column", line=line)
        return default
    try:
        return header.index(name)
    except ValueError:
        raise InputError(path, f"no column '{name}' ({option}); header has: {', '.join(header)}", line=line) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_time(path: str, line: int, raw: str, unix: bool, tz: timezone) -> float:
    if unix:
        try:
            t = float(raw)
        except ValueError:
            raise InputError(path, f"time {raw!r} is not Unix seconds (the first row's time was a number)", line=line) from None
        if not math.isfinite(t):
            raise InputError(path, f"time {raw!r} is not a finite number of Unix seconds", line=line)
        return t
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(path, f"time {raw!r} is not ISO-8601 (e.g. 2020-01-01 00:15:00 or 2020-01-01T00:15:00Z) or Unix seconds", line=line) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
