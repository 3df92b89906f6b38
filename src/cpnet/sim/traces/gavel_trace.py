"""Reader for Gavel `.trace` files (TSV, no header), in the layouts Gavel's own tools wrote.

* 10 fields, physical-cluster traces (`traces/physical_cluster/*.trace`):
  job_type, command, working_directory, num_steps_arg, needs_data_dir, total_steps,
  scale_factor, priority_weight, SLO, arrival_time_s
* 9 fields, the same without working_directory (what `utils.parse_trace` reads)
* 7 fields, Philly-derived per-VC traces (`traces/msr/seed=N/<vc>.trace`):
  job_type, command, num_steps_arg, needs_data_dir, total_steps, arrival_time_s, scale_factor

The layout is fixed by the first row; every row must have the same field count. Rows must be in
nondecreasing arrival order (Gavel asserts the same). Job ids are `L<line>`. A negative SLO
means "none" (Gavel writes -1); a non-negative one is kept in `extra` as `slo`.
"""

from __future__ import annotations

from collections.abc import Iterator

from cpnet.core.errors import InputError
from cpnet.sim.traces import fields
from cpnet.sim.traces.record import TraceRecord

# field count -> column index of (job_type, total_steps, scale_factor, arrival, priority, slo)
_LAYOUTS: dict[int, tuple[int, int, int, int, int | None, int | None]] = {
    10: (0, 5, 6, 9, 7, 8),
    9: (0, 4, 5, 8, 6, 7),
    7: (0, 4, 6, 5, None, None),
}
_INF = float("inf")
_new = tuple.__new__


def read_gavel_trace(path: str) -> Iterator[TraceRecord]:
    """Yield the jobs of a Gavel trace in file order (which must be arrival order)."""
    layout: tuple[int, int, int, int, int | None, int | None] | None = None
    width = 0
    start = previous = 0.0
    previous_line = 0
    with open(path, encoding="utf-8") as f:
        for line, raw in enumerate(f, start=1):
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            cells = text.split("\t")
            if layout is None:
                width = len(cells)
                layout = _LAYOUTS.get(width)
                if layout is None:
                    raise InputError(path, f"expected 7, 9 or 10 tab-separated fields (Gavel .trace), found {width}", line=line)
            elif len(cells) != width:
                raise fields.field_count_error(path, line, width, len(cells), "tab")
            it, isteps, iscale, iarr, iprio, islo = layout
            job_type = cells[it].strip()
            if not job_type:
                raise InputError(path, "expected a job type, got an empty cell", line=line, field="job_type")
            steps = fields.number(path, line, "total_steps", cells[isteps], strict=True)
            devices = fields.integer(path, line, "scale_factor", cells[iscale], minimum=1)
            arrival = fields.number(path, line, "arrival_time_s", cells[iarr])
            priority = 1.0 if iprio is None else fields.number(path, line, "priority_weight", cells[iprio], strict=True)
            extra: tuple[tuple[str, str], ...] = ()
            if islo is not None:
                slo = _slo(path, line, cells[islo])
                if slo is not None:
                    extra = (("slo", repr(slo)),)
            if previous_line == 0:
                start = arrival
            elif arrival < previous:
                raise fields.out_of_order(path, line, "arrival_time_s", arrival, previous, previous_line)
            previous, previous_line = arrival, line
            yield _new(
                TraceRecord,
                (f"L{line}", arrival - start, devices, path, line, None, job_type, steps, None, priority, None, extra),
            )


def _slo(path: str, line: int, text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise InputError(path, f"expected a number (negative = no SLO), got {text!r}", line=line, field="SLO") from None
    if value != value or value == _INF:
        raise InputError(path, f"expected a finite number, got {text!r}", line=line, field="SLO")
    return None if value < 0 else value
