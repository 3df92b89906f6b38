"""Trace formats by name, and format detection by explicit name, extension or header."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from cpnet.core.errors import InputError, UnknownNameError
from cpnet.sim.traces.gavel_trace import read_gavel_trace
from cpnet.sim.traces.itp import read_itp
from cpnet.sim.traces.openb import read_openb
from cpnet.sim.traces.philly import read_philly
from cpnet.sim.traces.record import TraceRecord

Reader = Callable[[str], Iterator[TraceRecord]]

FORMATS: dict[str, Reader] = {
    "gavel": read_gavel_trace,  # Gavel .trace (TSV, 7/9/10 fields)
    "philly": read_philly,  # pollux/philly.csv
    "itp": read_itp,  # microsoft_itp_2021/clusterNN.csv
    "openb": read_openb,  # alibaba_gpu_v2023_openb/openb_pod_list_*.csv
}

# First header cells that identify each CSV format.
_HEADERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("philly", ("timestamp", "duration", "num_gpus")),
    ("itp", ("job_id", "submission_time", "duration", "num_gpu")),
    ("openb", ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")),
)


def detect_format(path: str) -> str:
    """`gavel` for *.trace; otherwise the format whose header the file's first line starts with."""
    if path.endswith(".trace"):
        return "gavel"
    if not os.path.isfile(path):
        raise InputError(path, "no such trace file")
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline().rstrip("\r\n")
    cells = tuple(c.strip() for c in first.split(","))
    for name, prefix in _HEADERS:
        if cells[: len(prefix)] == prefix:
            return name
    if "\t" in first:
        return "gavel"
    expected = "; ".join(f"{name}: '{','.join(prefix)},...'" for name, prefix in _HEADERS)
    raise InputError(path, f"unrecognised trace format; expected a .trace file (Gavel) or a CSV header starting {expected}", line=1)


def read_trace(path: str, fmt: str | None = None) -> Iterator[TraceRecord]:
    """Stream the records of a trace file in nondecreasing arrival order.

    `fmt` is one of FORMATS' names; None detects it (see detect_format).
    """
    if fmt is None:
        fmt = detect_format(path)
    reader = FORMATS.get(fmt)
    if reader is None:
        raise UnknownNameError("trace format", fmt, FORMATS)
    if not os.path.isfile(path):
        raise InputError(path, "no such trace file")
    return reader(path)
