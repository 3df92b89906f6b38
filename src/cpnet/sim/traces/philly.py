"""Reader for the Philly job list `pollux/philly.csv` (`timestamp,duration,num_gpus,gpu_time,cluster`).

The file is the 82,247-job Philly list Pollux and Sia sample from (derived from
msr-fiddle/philly-traces, CC BY 4.0). Its rows are *not* in timestamp order, so the reader makes
one documented pre-pass: it streams the file once in blocks of lines, validating every row and
keeping only compact typed columns (arrival, duration, GPUs, VC index, line: ~40 bytes a row),
sorts them by (timestamp, line) and then yields records in nondecreasing arrival order. No
per-row Python objects outlive a block, so memory stays a few MB even for the full file.

Timestamps are naive wall-clock times `YYYY-MM-DD HH:MM:SS`; they are read as-is (no time zone,
no DST shifts) and `arrival_s` is seconds since the earliest one. Tenant = the virtual cluster
(`cluster`). Job ids are `L<line>` (the 1-based physical line of the row), stable for a file.
`gpu_time` (= duration x num_gpus) is validated as a number and otherwise unused.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from datetime import datetime
from typing import NoReturn, TextIO

import numpy as np

from cpnet.core.errors import InputError
from cpnet.sim.traces import fields
from cpnet.sim.traces.record import TraceRecord

COLUMNS = ("timestamp", "duration", "num_gpus", "gpu_time", "cluster")
_BLOCK = 8192
_INF = float("inf")
_new = tuple.__new__  # TraceRecord without the keyword-handling constructor: the hot path


def read_philly(path: str) -> Iterator[TraceRecord]:
    """Yield the jobs of a Philly job list in nondecreasing arrival order (ties: file order)."""
    cols = _Columns()
    with open(path, encoding="utf-8") as f:
        header = f.readline()
        if not header.strip():
            raise InputError(path, f"empty file; expected a header {','.join(COLUMNS)!r}", line=1)
        index = fields.header_columns(path, header, ",", COLUMNS)
        _scan(path, f, index, len(index), cols)
    if not cols.lines:
        return
    times = np.frombuffer(cols.times, dtype=np.float64)
    order = np.argsort(times, kind="stable")  # stable: equal timestamps keep file order
    start = times[order[0]]
    durations = np.frombuffer(cols.durations, dtype=np.float64)
    gpus = np.frombuffer(cols.gpus, dtype=np.int64)
    vc_ids = np.frombuffer(cols.vcs, dtype=np.int64)
    lines = np.frombuffer(cols.lines, dtype=np.int64)
    names = cols.vc_names
    for lo in range(0, len(order), _BLOCK):
        part = order[lo : lo + _BLOCK]
        for arrival, n, duration, vc, line in zip(
            (times[part] - start).tolist(),
            gpus[part].tolist(),
            durations[part].tolist(),
            vc_ids[part].tolist(),
            lines[part].tolist(),
            strict=True,
        ):
            yield _new(TraceRecord, (f"L{line}", arrival, n, path, line, duration, None, None, names[vc], 1.0, None, ()))


class _Columns:
    """The pre-pass result: validated rows as parallel typed arrays."""

    __slots__ = ("times", "durations", "gpus", "vcs", "lines", "vc_names")

    def __init__(self) -> None:
        self.times = array("d")
        self.durations = array("d")
        self.gpus = array("q")
        self.vcs = array("q")
        self.lines = array("q")
        self.vc_names: list[str] = []


def _scan(path: str, f: TextIO, index: dict[str, int], width: int, cols: _Columns) -> None:
    it, idu, ign, igt, ivc = (index[c] for c in COLUMNS)
    vc_index: dict[str, int] = {}
    stamps: list[str] = []
    stamp_lines: list[int] = []
    durations, gpus, vcs, lines = cols.durations, cols.gpus, cols.vcs, cols.lines
    for line, raw in enumerate(f, start=2):
        cells = raw.rstrip("\r\n").split(",")
        if len(cells) != width:
            if not raw.strip():
                continue  # blank lines (the file ends with one) carry no job
            raise fields.field_count_error(path, line, width, len(cells), "comma")
        try:
            duration = float(cells[idu])
            n = int(cells[ign])
            float(cells[igt])
        except ValueError:
            _raise_cell_error(path, line, cells, idu, ign, igt)
        if not (0.0 < duration < _INF):
            raise InputError(path, f"expected a finite duration > 0 s, got {cells[idu]!r}", line=line, field="duration")
        if n < 1:
            raise InputError(path, f"expected a GPU count >= 1, got {cells[ign]!r}", line=line, field="num_gpus")
        vc = cells[ivc]
        k = vc_index.get(vc)
        if k is None:
            if not vc.strip():
                raise InputError(path, "expected a virtual-cluster id, got an empty cell", line=line, field="cluster")
            k = vc_index[vc] = len(cols.vc_names)
            cols.vc_names.append(vc)
        durations.append(duration)
        gpus.append(n)
        vcs.append(k)
        lines.append(line)
        stamps.append(cells[it])
        stamp_lines.append(line)
        if len(stamps) == _BLOCK:
            cols.times.extend(_seconds(path, stamps, stamp_lines))
            stamps, stamp_lines = [], []
    if stamps:
        cols.times.extend(_seconds(path, stamps, stamp_lines))


def _seconds(path: str, stamps: list[str], lines: list[int]) -> array[float]:
    """Seconds since 1970-01-01 (naive) for a block of timestamps, vectorised; errors name the line."""
    parsed = None
    # numpy also accepts dates without a clock, 'T' separators and zone offsets; the length test
    # keeps the fast path to the exact 'YYYY-MM-DD HH:MM:SS' shape and sends the rest to the check.
    if all(len(text) == 19 for text in stamps):
        try:
            parsed = np.array(stamps, dtype="datetime64[s]")
        except ValueError:
            parsed = None
    if parsed is None or np.isnat(parsed).any():
        for text, line in zip(stamps, lines, strict=True):
            _check_stamp(path, line, text)
        parsed = np.array(stamps, dtype="datetime64[s]")  # every row passed the strict check
    return array("d", parsed.astype(np.int64).astype(np.float64).tobytes())


def _check_stamp(path: str, line: int, text: str) -> None:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is not None or len(text) != 19 or text[10] != " ":
        raise InputError(path, f"expected a timestamp 'YYYY-MM-DD HH:MM:SS', got {text!r}", line=line, field="timestamp")


def _raise_cell_error(path: str, line: int, cells: list[str], idu: int, ign: int, igt: int) -> NoReturn:
    fields.number(path, line, "duration", cells[idu], strict=True)
    fields.integer(path, line, "num_gpus", cells[ign], minimum=1)
    fields.number(path, line, "gpu_time", cells[igt])
    raise AssertionError("unreachable: one of the cells above failed to parse")
