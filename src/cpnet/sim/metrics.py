"""THE metrics of a simulation run: every number a report quotes is computed here.

Definitions (over the measured jobs: the `measure` window of the run, or all jobs):
- JCT of a finished job = finish - arrival. `avg_jct_s`, `median_jct_s`, `p99_jct_s`.
- Queueing delay = first start - arrival (the initial wait; later waits after preemption count in
  the JCT, not here). `avg_queue_s`, `p99_queue_s` over jobs that started.
- Percentiles interpolate linearly between order statistics (numpy's default): the q-th percentile
  of sorted x[0..n-1] is x at fractional rank q/100 * (n - 1).
- `makespan_s` = last finish - first arrival. The horizon [first arrival, last finish] (or the end
  of the run when nothing finished) is also the window of utilization.
- `utilization_by_model[m]` = busy device-seconds of model m in the horizon / (devices of m x
  horizon), integrated from the run's utilization timeline (all jobs, not just measured ones: it is
  a property of the network); `utilization` is the same over all devices.
- `energy_kwh` = sum over the measured jobs' device-seconds at each (site, model) of
  TDP(model) x PUE(site). Assumption: a busy device draws its TDP and an idle one draws nothing
  (idle power is not attributed to jobs). Models without a TDP in the catalog contribute 0 and are
  listed in `energy_missing_models`. `cost_usd` = energy x the site's price per kWh;
  `carbon_kg` = energy x the site's carbon intensity (g/kWh) / 1000.
- `jain_index` = Jain's fairness index (sum x)^2 / (n * sum x^2) over normalised service x_e of
  each entity e, where x_e = (device-seconds e received) / (device-seconds e would have received
  holding its gangs for its jobs' whole time in the system) / weight_e. Entities are tenants
  (weights from the scenario) when the measured jobs span at least two tenants, else the jobs
  themselves (weight 1); `jain_over` says which. Equal normalised shares give 1; one entity
  getting everything gives 1/n.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cpnet.sim.records import JobOutcome, JobRecord, SimulationResult

_J_PER_KWH = 3.6e6


@dataclass(frozen=True, slots=True)
class Metrics:
    jobs: int
    jobs_finished: int
    jobs_infeasible: int
    jobs_unfinished: int
    avg_jct_s: float | None
    median_jct_s: float | None
    p99_jct_s: float | None
    avg_queue_s: float | None
    p99_queue_s: float | None
    makespan_s: float | None
    horizon_s: float
    utilization: float | None
    utilization_by_model: Mapping[str, float] = field(default_factory=dict)
    device_s: float = 0.0  # device-seconds held by the measured jobs
    energy_kwh: float = 0.0
    cost_usd: float = 0.0
    carbon_kg: float = 0.0
    energy_missing_models: tuple[str, ...] = ()
    jain_index: float | None = None
    jain_over: str = "jobs"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["utilization_by_model"] = dict(sorted(self.utilization_by_model.items()))
        out["energy_missing_models"] = list(self.energy_missing_models)
        return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """q-th percentile (0..100) with linear interpolation; None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100], got {q!r}")
    xs = sorted(values)
    rank = q / 100 * (len(xs) - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)


def mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def jain_index(shares: Sequence[float]) -> float | None:
    """(sum x)^2 / (n * sum x^2); None for no shares, 1.0 when every share is 0."""
    if not shares:
        return None
    sq = math.fsum(x * x for x in shares)
    if sq == 0:
        return 1.0
    return math.fsum(shares) ** 2 / (len(shares) * sq)


def compute_metrics(result: SimulationResult) -> Metrics:
    """All metrics of one run (see the module docstring for each definition)."""
    recs = result.measured()
    finished = [r for r in recs if r.outcome is JobOutcome.FINISHED]
    finish_s = [r.finish_s for r in finished if r.finish_s is not None]  # the driver sets it on every finish
    jcts = [r.finish_s - r.arrival_s for r in finished if r.finish_s is not None]
    queues = [r.first_start_s - r.arrival_s for r in recs if r.first_start_s is not None]
    start_s = min((r.arrival_s for r in recs), default=result.start_s)
    end_s = max(finish_s, default=result.end_s)
    horizon_s = max(0.0, end_s - start_s)
    util_by_model, util = _utilization(result, start_s, end_s)
    energy, cost, carbon, missing = _energy(result, recs)
    jain, over = _fairness(result, recs)
    return Metrics(
        jobs=len(recs),
        jobs_finished=len(finished),
        jobs_infeasible=sum(r.outcome is JobOutcome.INFEASIBLE for r in recs),
        jobs_unfinished=sum(r.outcome is JobOutcome.UNFINISHED for r in recs),
        avg_jct_s=mean(jcts),
        median_jct_s=percentile(jcts, 50),
        p99_jct_s=percentile(jcts, 99),
        avg_queue_s=mean(queues),
        p99_queue_s=percentile(queues, 99),
        makespan_s=(end_s - start_s) if finished else None,
        horizon_s=horizon_s,
        utilization=util,
        utilization_by_model=util_by_model,
        device_s=math.fsum(r.total_device_s for r in recs),
        energy_kwh=energy,
        cost_usd=cost,
        carbon_kg=carbon,
        energy_missing_models=missing,
        jain_index=jain,
        jain_over=over,
    )


def _utilization(result: SimulationResult, start_s: float, end_s: float) -> tuple[dict[str, float], float | None]:
    if end_s <= start_s:
        return {}, None
    span = end_s - start_s
    by_model: dict[str, float] = {}
    busy_total = cap_total = 0.0
    for model, series in sorted(result.utilization.items()):
        busy = series.busy_device_s(start_s, end_s)
        by_model[model] = busy / (series.capacity * span)
        busy_total += busy
        cap_total += series.capacity * span
    return by_model, (busy_total / cap_total if cap_total else None)


def _energy(result: SimulationResult, recs: Sequence[JobRecord]) -> tuple[float, float, float, tuple[str, ...]]:
    sites = {s.id: s for s in result.sites}
    by_pool: dict[tuple[str, str], float] = {}
    for r in recs:
        for pool, dev_s in r.device_s.items():
            by_pool[pool] = by_pool.get(pool, 0.0) + dev_s
    energy = cost = carbon = 0.0
    missing: set[str] = set()
    for (site_id, model), dev_s in sorted(by_pool.items()):
        tdp = result.tdp_w.get(model)
        if tdp is None:
            missing.add(model)
            continue
        site = sites[site_id]
        kwh = dev_s * tdp * site.pue / _J_PER_KWH
        energy += kwh
        cost += kwh * site.price_usd_per_kwh
        carbon += kwh * site.carbon_g_per_kwh / 1000.0
    return energy, cost, carbon, tuple(sorted(missing))


def _fairness(result: SimulationResult, recs: Sequence[JobRecord]) -> tuple[float | None, str]:
    got: dict[str, float] = {}
    entitled: dict[str, float] = {}
    tenants = {r.tenant for r in recs}
    over = "tenants" if len(tenants) >= 2 else "jobs"
    for r in recs:
        if r.outcome is JobOutcome.INFEASIBLE:
            continue
        end = r.finish_s if r.finish_s is not None else result.end_s
        held = r.num_devices * (end - r.arrival_s)
        if held <= 0:
            continue
        key = r.tenant if over == "tenants" else r.job_id
        got[key] = got.get(key, 0.0) + r.total_device_s
        entitled[key] = entitled.get(key, 0.0) + held
    shares = []
    for key in sorted(got):
        weight = result.tenants[key].weight if over == "tenants" and key in result.tenants else 1.0
        shares.append(got[key] / entitled[key] / weight)
    return jain_index(shares), over
