"""Future jobs for a capacity plan, sampled from a fitted demand forecast.

    D(k)  = the forecast of the history's hourly demand (device-hours per hour, cpnet.forecast) for
            hour k of the horizon: its mean, or its upper 80 % / 95 % bound (`quantile`), times
            (1 + growth) ** (k / 720) when a monthly growth is given (an assumption the user states)
    n(k)  ~ Poisson(D(k) / E[device-hours of a history job])
    jobs  = n(k) jobs drawn with replacement from the history (type, devices, work, tenant, data),
            arriving uniformly within hour k

So the sampled jobs offer the forecast's device-hours in expectation, with the history's mix of job
sizes. The draw is seeded: the same inputs give the same jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from cpnet.core.errors import CpnetError
from cpnet.core.model import JobSpec
from cpnet.forecast import forecast as fit_forecast
from cpnet.forecast.series import build_series, demand_jobs

HOUR_S = 3600.0
QUANTILES = ("mean", "80", "95")


@dataclass(frozen=True, slots=True, eq=False)
class FutureDemand:
    jobs: tuple[JobSpec, ...]
    demand_dh: np.ndarray  # D(k), device-hours per hour of the horizon
    history_dh: np.ndarray  # the history's hourly demand the forecast was fitted on
    model: str  # the forecast model used
    mean_job_dh: float


def future_demand(
    history: Sequence[JobSpec],
    horizon_h: int,
    *,
    seed: int = 0,
    quantile: str = "mean",
    growth_per_month: float = 0.0,
    model: str = "auto",
) -> FutureDemand:
    """Jobs for hours [0, horizon_h) of the plan (arrival 0 = the plan's start), as the module docstring says."""
    if quantile not in QUANTILES:
        raise CpnetError(f"quantile {quantile!r}: expected one of {', '.join(QUANTILES)}")
    if growth_per_month <= -1.0:
        raise CpnetError(f"growth {growth_per_month:g} per month: must be above -1 (-100 %)")
    if not history:
        raise CpnetError("the history trace has no jobs")
    dj = demand_jobs(history)
    y = build_series(dj).series[0].values
    fc = fit_forecast(y, horizon_h, model)
    path = fc.mean if quantile == "mean" else fc.hi[int(quantile)]
    demand = np.asarray(path, dtype=np.float64) * (1.0 + growth_per_month) ** (np.arange(horizon_h) / 720.0)
    dh = np.array([j.duration_s * j.devices / HOUR_S for j in dj])
    mean_dh = float(dh.mean())
    if mean_dh <= 0:
        raise CpnetError("the history's jobs have no device-hours")
    rng = np.random.default_rng(seed)
    counts = rng.poisson(demand / mean_dh)
    total = int(counts.sum())
    picks = rng.integers(0, len(history), size=total)
    offsets = rng.random(total)
    hours = np.repeat(np.arange(horizon_h), counts)
    jobs = []
    for i in range(total):
        src = history[int(picks[i])]
        arrival = (float(hours[i]) + float(offsets[i])) * HOUR_S
        deadline = None if src.deadline_s is None else src.deadline_s - src.arrival_s + arrival
        jobs.append(replace(src, id=f"plan-{i:07d}", arrival_s=arrival, deadline_s=deadline))
    jobs.sort(key=lambda j: j.arrival_s)
    return FutureDemand(tuple(jobs), demand, np.asarray(y, dtype=np.float64), fc.model, mean_dh)
