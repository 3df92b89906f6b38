"""Reader for Microsoft ITP 2021 job lists (`microsoft_itp_2021/clusterNN.csv`, MIT licence).

Columns `job_id,submission_time,duration,num_gpu`: submission time and duration in seconds,
rows in submission order (required: nondecreasing). The files carry no tenant and no job type.
Job ids are the file's own `job_id` values; `arrival_s` is seconds since the first submission.
"""

from __future__ import annotations

from collections.abc import Iterator

from cpnet.core.errors import InputError
from cpnet.sim.traces import fields
from cpnet.sim.traces.record import TraceRecord

COLUMNS = ("job_id", "submission_time", "duration", "num_gpu")
_INF = float("inf")
_new = tuple.__new__


def read_itp(path: str) -> Iterator[TraceRecord]:
    """Yield the jobs of an ITP cluster file in file order (which must be submission order)."""
    with open(path, encoding="utf-8") as f:
        header = f.readline()
        if not header.strip():
            raise InputError(path, f"empty file; expected a header {','.join(COLUMNS)!r}", line=1)
        index = fields.header_columns(path, header, ",", COLUMNS)
        width = len(index)
        iid, isub, idur, ign = (index[c] for c in COLUMNS)
        start = previous = 0.0
        previous_line = 0
        for line, raw in enumerate(f, start=2):
            cells = raw.rstrip("\r\n").split(",")
            if len(cells) != width:
                if not raw.strip():
                    continue
                raise fields.field_count_error(path, line, width, len(cells), "comma")
            try:
                submitted = float(cells[isub])
                duration = float(cells[idur])
                n = int(cells[ign])
            except ValueError:
                fields.number(path, line, "submission_time", cells[isub])
                fields.number(path, line, "duration", cells[idur], strict=True)
                fields.integer(path, line, "num_gpu", cells[ign], minimum=1)
                raise AssertionError("unreachable") from None
            if not (0.0 <= submitted < _INF):
                raise InputError(path, f"expected a time >= 0 s, got {cells[isub]!r}", line=line, field="submission_time")
            if not (0.0 < duration < _INF):
                raise InputError(path, f"expected a finite duration > 0 s, got {cells[idur]!r}", line=line, field="duration")
            if n < 1:
                raise InputError(path, f"expected a GPU count >= 1, got {cells[ign]!r}", line=line, field="num_gpu")
            job_id = cells[iid].strip()
            if not job_id:
                raise InputError(path, "expected a job id, got an empty cell", line=line, field="job_id")
            if previous_line == 0:
                start = submitted
            elif submitted < previous:
                raise fields.out_of_order(path, line, "submission_time", submitted, previous, previous_line)
            previous, previous_line = submitted, line
            yield _new(TraceRecord, (job_id, submitted - start, n, path, line, duration, None, None, None, 1.0, None, ()))
