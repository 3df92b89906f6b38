"""One job as a trace file describes it, before it becomes a JobSpec."""

from __future__ import annotations

from typing import NamedTuple


class TraceRecord(NamedTuple):
    """A job read from a trace file (immutable).

    `arrival_s` is relative to the trace start: the first record a reader yields arrives at 0.0.
    `source` and `line` (1-based physical line) point back at the row, so later stages can report
    errors the way the readers do. Fields a format does not carry are None. `extra` holds
    format-specific facts as (key, value) string pairs, e.g. openb's `gpu_milli`.

    A NamedTuple rather than a frozen dataclass on purpose: readers build one per row and must
    sustain > 200k rows/s; a frozen dataclass spends one object.__setattr__ per field (~3x slower).
    """

    job_id: str
    arrival_s: float
    num_devices: int
    source: str
    line: int
    duration_s: float | None = None
    job_type: str | None = None
    total_steps: float | None = None
    tenant: str | None = None
    priority_weight: float = 1.0
    accelerators: frozenset[str] | None = None  # allowed canonical models; None = any
    extra: tuple[tuple[str, str], ...] = ()
