"""Traces by name: the shipped sample, Gavel's generator, or any trace file path.

Names take optional parameters after a colon, `name:key=value,key=value`:

* `philly-sample` (the default): 2,000 consecutive Philly jobs, the busiest window of
  `pollux/philly.csv` (see data/philly-sample.md). `load=X` divides every arrival time by X
  (X times the job arrival rate, as Pollux's 0.5x-2x "job load" workloads do); default 1.
* `gavel-continuous`: Gavel's generator (gavel_workload.py). Parameters `rate` (jobs/h,
  default 5.6), `jobs` (default 6000), `seed` (default: open_trace's seed), `multi_gpu` and
  `priorities` (0/1, default 0), `users` (default 1: every job is user "default"; K: each job
  belongs to one of K synthetic users, drawn by a seeded rule, see gavel_workload).
  E.g. `gavel-continuous:rate=4.8,jobs=6000,seed=1`.

Anything else is a file path, read by the matching reader (formats.py) and typed by jobs.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from importlib.resources import files
from itertools import islice

from cpnet.core.errors import InputError, UnknownNameError
from cpnet.core.model import JobSpec
from cpnet.core.snapshot import ThroughputTable
from cpnet.sim.traces.formats import read_trace
from cpnet.sim.traces.gavel_workload import gavel_workload
from cpnet.sim.traces.jobs import to_job_specs
from cpnet.sim.traces.record import TraceRecord

DEFAULT_TRACE = "philly-sample"
PHILLY_SAMPLE_FILE = "philly-sample.csv"

_Params = dict[str, str]


def trace_names() -> list[str]:
    """Names `open_trace` accepts besides file paths (each may take `:key=value,...`)."""
    return sorted(_BUNDLED)


def bundled_path(filename: str) -> str:
    """Filesystem path of a data file shipped with this package."""
    return str(files("cpnet.sim.traces").joinpath("data", filename))


def open_trace(
    name_or_path: str,
    *,
    throughput: ThroughputTable,
    seed: int = 0,
    limit: int | None = None,
    fmt: str | None = None,
) -> Iterator[JobSpec]:
    """Jobs of a bundled trace name or a trace file, in nondecreasing arrival order.

    `seed` drives the job-type rule for untyped traces (jobs.py) and Gavel's generator unless the
    name sets its own. `limit` keeps the first N jobs. `fmt` forces a file format (formats.py).
    An existing file path wins over a bundled name of the same spelling. Names and paths are
    resolved now; file rows are read lazily as jobs are consumed.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit ({limit}) must be >= 0")
    if os.path.exists(name_or_path):
        jobs = to_job_specs(read_trace(name_or_path, fmt), throughput, seed=seed)
    else:
        base, params = _parse_name(name_or_path)
        make = _BUNDLED.get(base)
        if make is None:
            if os.sep in name_or_path or "." in os.path.basename(name_or_path):
                raise InputError(name_or_path, f"no such trace file (bundled names: {', '.join(trace_names())})")
            raise UnknownNameError("trace", name_or_path, trace_names())
        jobs = make(name_or_path, params, throughput, seed)
    return jobs if limit is None else islice(jobs, limit)


def _parse_name(text: str) -> tuple[str, _Params]:
    base, _, rest = text.partition(":")
    params: _Params = {}
    for part in rest.split(",") if rest else ():
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise InputError(text, f"expected key=value parameters after ':', got {part!r}")
        params[key.strip()] = value.strip()
    return base.strip(), params


def _philly_sample(name: str, params: _Params, throughput: ThroughputTable, seed: int) -> Iterator[JobSpec]:
    _check_keys(name, params, ("load",))
    load = _number(name, params, "load", 1.0)
    records: Iterator[TraceRecord] = read_trace(bundled_path(PHILLY_SAMPLE_FILE), "philly")
    if load != 1.0:
        records = (r._replace(arrival_s=r.arrival_s / load) for r in records)
    return to_job_specs(records, throughput, seed=seed)


def _gavel_continuous(name: str, params: _Params, throughput: ThroughputTable, seed: int) -> Iterator[JobSpec]:
    _check_keys(name, params, ("rate", "jobs", "seed", "multi_gpu", "priorities", "users"))
    return gavel_workload(
        rate_jobs_per_hr=_number(name, params, "rate", 5.6),
        num_jobs=_integer(name, params, "jobs", 6000, minimum=0),
        seed=_integer(name, params, "seed", seed, minimum=0),
        throughput=throughput,
        multi_gpu=_flag(name, params, "multi_gpu"),
        multi_priority=_flag(name, params, "priorities"),
        users=_integer(name, params, "users", 1, minimum=1),
    )


_BUNDLED: dict[str, Callable[[str, _Params, ThroughputTable, int], Iterator[JobSpec]]] = {
    "philly-sample": _philly_sample,
    "gavel-continuous": _gavel_continuous,
}


def _check_keys(name: str, params: _Params, valid: tuple[str, ...]) -> None:
    for key in params:
        if key not in valid:
            raise InputError(name, f"unknown parameter '{key}'; valid: {', '.join(valid)}", field=key)


def _number(name: str, params: _Params, key: str, default: float) -> float:
    if key not in params:
        return default
    try:
        value = float(params[key])
    except ValueError:
        value = math.nan
    if not (0.0 < value < math.inf):
        raise InputError(name, f"expected a number > 0, got {params[key]!r}", field=key)
    return value


def _integer(name: str, params: _Params, key: str, default: int, *, minimum: int) -> int:
    if key not in params:
        return default
    try:
        value = int(params[key])
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise InputError(name, f"expected an integer >= {minimum}, got {params[key]!r}", field=key)
    return value


def _flag(name: str, params: _Params, key: str) -> bool:
    value = params.get(key, "0").lower()
    if value not in ("0", "1", "true", "false"):
        raise InputError(name, f"expected 0 or 1, got {params[key]!r}", field=key)
    return value in ("1", "true")
