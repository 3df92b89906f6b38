"""Hourly demand series from a trace's jobs: per tenant, per workload class, or in total.

Demand (offered load): bin k (hour [k, k+1) of the series) holds the device-hours the trace's jobs
ask for in that hour if each ran from its arrival for its recorded duration on `num_devices`
devices, i.e. the mean number of devices busy in that hour with unlimited capacity. It is demand,
not what a cluster served (queueing delays are not in the traces). Jobs that arrived before the
series' first hour still count while they run.

Units: device-hours per hour always; CU per hour (compute units, cpnet.catalog.compute_units: a
device-hour of model X is worth cu(X) V100 device-hours) only when every job's accelerator model
is known: given for the whole trace (`accelerator=`), or one model named by the job itself (openb
pods constrained to one model). None of Philly, Microsoft ITP and most openb pods name a model,
so without `accelerator=` their CU series is unavailable, with the reason said.

Workload class: the traces carry no job type (cpnet's types for them are seeded random picks), so
the class is the gang size: `fractional` (openb pods that share one GPU), `1-gpu`, `2-8-gpu` (one
node), `>8-gpu` (multi-node).

History window: from the first arrival after the last gap of a week or more without arrivals, to
the hour of the last arrival (later hours would only show jobs draining). The gap rule is for
pod-list snapshots (openb): before such a gap they hold only long-lived survivors, not that
time's demand.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from cpnet.core.errors import CpnetError
from cpnet.core.model import JobSpec

HOUR_S = 3600.0
GAP_H = 168  # a week without arrivals ends the history that came before it
FloatArray = npt.NDArray[np.float64]


class GroupBy(StrEnum):
    """Which series to build from a trace."""

    TOTAL = "total"
    TENANT = "tenant"
    CLASS = "class"


class Unit(StrEnum):
    DEVICE_HOURS = "device-hours/h"
    CU = "CU/h"


class SeriesError(CpnetError):
    """A trace cannot give the asked-for demand series."""


@dataclass(frozen=True, slots=True)
class DemandJob:
    """What demand needs of a job: when, how long, how many devices, who, and its CU rate if known."""

    arrival_s: float
    duration_s: float
    devices: int
    tenant: str
    workload_class: str
    cu_rate: float | None  # CU per device-hour; None: model unknown


@dataclass(frozen=True, slots=True, eq=False)
class DemandSeries:
    """One hourly series: `values[k]` is the demand in hour [start_h + k, start_h + k + 1) of the trace."""

    key: str  # "total", "tenant=<id>" or "class=<name>"
    unit: Unit
    start_h: int  # hours after the trace's first arrival
    values: FloatArray = field(repr=False)

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, slots=True)
class SeriesSet:
    """The series of one trace, and why CU series are missing when they are."""

    series: tuple[DemandSeries, ...]
    cu_note: str | None  # None: CU series are included


def workload_class(devices: int, gpu_milli: int | None = None) -> str:
    """The gang-size class of a job (see the module docstring)."""
    if devices == 1 and gpu_milli is not None and gpu_milli < 1000:
        return "fractional"
    if devices == 1:
        return "1-gpu"
    return "2-8-gpu" if devices <= 8 else ">8-gpu"


def demand_jobs(jobs: Iterable[JobSpec], *, accelerator: str | None = None) -> list[DemandJob]:
    """DemandJobs of a trace's JobSpecs; a job without a recorded duration is an error."""
    from cpnet.catalog.compute_units import cu_rate

    rates: dict[str, float | None] = {}

    def rate_of(model: str) -> float | None:
        if model not in rates:
            rates[model] = cu_rate(model)
        return rates[model]

    if accelerator is not None and rate_of(accelerator) is None:
        raise SeriesError(f"--accelerator {accelerator}: no CU rate is known for that model; pick one from `cpnet catalog list`")
    out = []
    for job in jobs:
        text = job.extra.get("duration_s")
        if text is None:
            raise SeriesError(f"job {job.id} has no recorded duration; demand needs traces with durations (Philly, ITP, openb, gavel-continuous)")
        milli = job.extra.get("gpu_milli")
        if accelerator is not None:
            rate = rate_of(accelerator)
        elif job.accelerators is not None and len(job.accelerators) == 1:
            rate = rate_of(next(iter(job.accelerators)))
        else:
            rate = None
        out.append(DemandJob(job.arrival_s, float(text), job.num_devices, job.tenant, workload_class(job.num_devices, int(milli) if milli else None), rate))
    return out


def history_window(arrivals_s: Sequence[float] | FloatArray) -> tuple[int, int]:
    """[start_h, end_h) of the history (see the module docstring); end_h is the last arrival's hour."""
    a = np.sort(np.asarray(arrivals_s, dtype=np.float64))
    if len(a) == 0:
        raise SeriesError("the trace has no jobs")
    gaps = np.flatnonzero(np.diff(a) >= GAP_H * HOUR_S)
    first = a[gaps[-1] + 1] if len(gaps) else a[0]
    return math.floor(first / HOUR_S), math.floor(a[-1] / HOUR_S)


def hourly_load(arrivals_s: FloatArray, durations_s: FloatArray, weights: FloatArray, start_h: int, end_h: int) -> FloatArray:
    """Weighted busy hours per hour bin [start_h, end_h): each job adds weight x its overlap with the bin."""
    n = end_h - start_h
    if n <= 0:
        return np.zeros(0)
    a = arrivals_s / HOUR_S - start_h
    e = a + durations_s / HOUR_S
    keep = (e > 0) & (a < n)
    a, e, w = np.clip(a[keep], 0, n), np.clip(e[keep], 0, n), weights[keep]
    # Exact overlap: the integral of the busy-devices step function between bin edges, via the
    # piecewise-linear cumulative F(t) = sum_j w_j * clip(t - a_j, 0, e_j - a_j), taken from
    # slope changes (+w at a_j, -w at e_j) plus the fractional part at each breakpoint.
    out = np.zeros(n + 1)
    for t, sign in ((a, 1.0), (e, -1.0)):
        k = np.floor(t).astype(np.int64)
        frac = t - k
        # a ramp starting at t adds w*(1-frac) to bin k and w to each later bin
        np.add.at(out, np.minimum(k, n), sign * w * (1.0 - frac))
        np.add.at(out, np.minimum(k + 1, n), sign * w * frac)
    slope = np.cumsum(out[:n])
    return np.asarray(slope, dtype=np.float64)


def build_series(jobs: Sequence[DemandJob], by: GroupBy = GroupBy.TOTAL, *, top: int | None = None) -> SeriesSet:
    """Device-hour (and, where rates are known, CU) series of `jobs`, grouped by `by`.

    `top` keeps the `top` largest groups by device-hours (tenant and class only).
    """
    if not jobs:
        raise SeriesError("the trace has no jobs")
    arr = np.array([j.arrival_s for j in jobs])
    dur = np.array([j.duration_s for j in jobs])
    dev = np.array([float(j.devices) for j in jobs])
    start_h, end_h = history_window(arr)
    if end_h - start_h < 2:
        raise SeriesError(f"the trace's jobs arrive within {end_h - start_h + 1} hour(s); a forecast needs hours of history")
    unknown = sum(j.cu_rate is None for j in jobs)
    cu_note = None
    if unknown:
        cu_note = f"CU/h not given: {unknown} of {len(jobs)} jobs name no single accelerator model with a CU rate (pass --accelerator MODEL if the trace ran on one model)"
    if by is GroupBy.TOTAL:
        groups: dict[str, npt.NDArray[np.bool_]] = {"total": np.ones(len(jobs), dtype=bool)}
    else:
        names = [j.tenant if by is GroupBy.TENANT else j.workload_class for j in jobs]
        groups = {f"{by.value}={name}": np.array([x == name for x in names]) for name in sorted(set(names))}
    built: list[tuple[float, str, DemandSeries, DemandSeries | None]] = []
    for key, mask in groups.items():
        dh = DemandSeries(key, Unit.DEVICE_HOURS, start_h, hourly_load(arr[mask], dur[mask], dev[mask], start_h, end_h))
        cu = None
        if cu_note is None:
            rate = np.array([j.cu_rate for j, m in zip(jobs, mask, strict=True) if m], dtype=np.float64)
            cu = DemandSeries(key, Unit.CU, start_h, hourly_load(arr[mask], dur[mask], dev[mask] * rate, start_h, end_h))
        built.append((float(dh.values.sum()), key, dh, cu))
    if top is not None and by is not GroupBy.TOTAL:
        built = sorted(built, key=lambda b: (-b[0], b[1]))[:top]
    series: list[DemandSeries] = []
    for _, _, dh, cu in built:
        series.append(dh)
        if cu is not None:
            series.append(cu)
    return SeriesSet(tuple(series), cu_note)
