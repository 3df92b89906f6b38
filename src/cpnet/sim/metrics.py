"""THE metrics of a simulation run: every number a report quotes is computed here.

Definitions (over the measured jobs: the `measure` window of the run, or all jobs):
- JCT of a finished job = finish - arrival. `avg_jct_s`, `median_jct_s`, `p99_jct_s`.
- Queueing delay = first start - arrival (the initial wait; later waits after preemption count in
  the JCT, not here). `avg_queue_s`, `p99_queue_s` over jobs that started.
- Percentiles interpolate linearly between order statistics (numpy's default): the q-th percentile
  of sorted x[0..n-1] is x at fractional rank q/100 * (n - 1).
- `makespan_s` = last finish - first arrival. The horizon [first arrival, last finish] (or the end
  of the run when nothing finished) is the window of `utilization` and of idle energy.
- `utilization_by_model[m]` = busy device-seconds of model m in the horizon / (devices of m x
  horizon), integrated from the run's utilization timeline (all jobs, not just measured ones: it is
  a property of the network); `utilization` is the same over all devices. It includes the drain
  after the last arrival, so a saturated network with a long tail reads low.
- `utilization_busy_window` = the same ratio over the busy window [first arrival, last arrival]
  (`busy_window_s` long; None when that window is empty), while work keeps arriving.
- Job energy: a busy device draws its TDP. Each run interval (n devices of model m at site s over
  [t0, t1)) uses n x TDP(m) x PUE(s) x (t1 - t0) / 3.6e6 kWh; `cost_usd` integrates that rate times
  the price in force (USD/kWh) and `carbon_kg` times the carbon intensity (g/kWh) / 1000, from the
  run's EnergySignals (sim time; exact for step series) when it has them, else the Site's static
  values (`price_carbon_from` says which). A record without intervals (older drivers) falls back to
  its `device_s` map at the static values. `energy_kwh`, `cost_usd`, `carbon_kg` are the measured
  jobs' sums. Models without a TDP in the catalog contribute 0 and are listed in
  `energy_missing_models`.
- Idle energy (`idle_energy_kwh`, `idle_cost_usd`, `idle_carbon_kg`), kept apart from the jobs':
  an idle device draws IDLE_FRACTION x TDP (cpnet.core.power). Per site and model, idle
  device-seconds = inventory x horizon - device-seconds held there by any job within the horizon
  (from all jobs' intervals, clipped; floored at 0); priced over time like job energy.
- Data: `data_moved_gb`, `data_moved_gb_km` sum the measured jobs' records; in the breakdowns a
  job's amount is split over the sites other than its data site where it ran (equally for GB, by
  great-circle km for GB-km). `jobs_outside_data_region` counts jobs that ran at least once at a
  site whose region differs from their data site's region. `transfer_s` sums start delays spent
  waiting for data; `avg_transfer_s` is over the jobs that started.
- `deadline_misses` (of `jobs_with_deadline`): a job with a deadline that finished after it, or
  was still unfinished when its deadline passed before the run ended. Infeasible jobs (no pool of
  the network can ever hold them) are not scheduling misses: they are counted in `jobs_infeasible`.
- `by_site`, `by_tier`, `by_region`: a Breakdown per group (every site of the scenario, even idle
  ones). Energy, cost, carbon, device-hours, idle energy and data sum to the totals; the job counts
  (`jobs_started`, `jobs_outside_data_region`) count a job once per group it ran in, so a job that
  ran in several groups counts in each.
- `jain_index` = Jain's fairness index (sum x)^2 / (n * sum x^2) over normalised service x_e of
  each entity e, where x_e = (device-seconds e received) / (device-seconds e would have received
  holding its gangs for its jobs' whole time in the system) / weight_e. Entities are tenants
  (weights from the scenario) when the measured jobs span at least two tenants, else the jobs
  themselves (weight 1); `jain_over` says which. Equal normalised shares give 1; one entity
  getting everything gives 1/n.
- Tenant shares over a window [t0, t1) (`tenant_shares`, the fairness benchmark's figure): the
  CU-seconds each tenant held in it (each run interval clipped to the window, n devices of model m
  for d seconds = n x d x cu(m, job type) CU-s, cpnet.catalog.compute_units), with raw
  device-seconds beside; `share` = its CU-s / all tenants' CU-s; `fair_share` = its weight / the sum
  of the weights of the tenants that held or wanted devices in the window (weighted max-min when
  every tenant's demand exceeds its share); `jain_over_weights` = Jain's index over share / fair_share.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from cpnet.core.model import Site
from cpnet.core.power import IDLE_FRACTION
from cpnet.scenario.distance import great_circle_km
from cpnet.sim.records import JobOutcome, JobRecord, SimulationResult

_J_PER_KWH = 3.6e6


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One site's (tier's, region's) share of a run; see the module docstring."""

    device_h: float = 0.0
    energy_kwh: float = 0.0
    cost_usd: float = 0.0
    carbon_kg: float = 0.0
    idle_energy_kwh: float = 0.0
    idle_cost_usd: float = 0.0
    idle_carbon_kg: float = 0.0
    data_moved_gb: float = 0.0
    data_moved_gb_km: float = 0.0
    jobs_started: int = 0
    jobs_outside_data_region: int = 0


@dataclass(frozen=True, slots=True)
class JobEnergy:
    """One job's energy (kWh), its cost (USD) and carbon (kgCO2)."""

    energy_kwh: float
    cost_usd: float
    carbon_kg: float


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
    device_s: float = 0.0  # device-seconds held by the measured jobs (their intervals, else device_s maps)
    energy_kwh: float = 0.0
    cost_usd: float = 0.0
    carbon_kg: float = 0.0
    energy_missing_models: tuple[str, ...] = ()
    jain_index: float | None = None
    jain_over: str = "jobs"
    busy_window_s: float = 0.0
    utilization_busy_window: float | None = None
    price_carbon_from: str = "static"  # "series": the run's EnergySignals; "static": the Sites' values
    idle_energy_kwh: float = 0.0
    idle_cost_usd: float = 0.0
    idle_carbon_kg: float = 0.0
    data_moved_gb: float = 0.0
    data_moved_gb_km: float = 0.0
    jobs_outside_data_region: int = 0
    transfer_s: float = 0.0
    avg_transfer_s: float | None = None
    jobs_with_deadline: int = 0
    deadline_misses: int = 0
    by_site: Mapping[str, Breakdown] = field(default_factory=dict)
    by_tier: Mapping[str, Breakdown] = field(default_factory=dict)
    by_region: Mapping[str, Breakdown] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("by_site", "by_tier", "by_region")}
        out["utilization_by_model"] = dict(sorted(self.utilization_by_model.items()))
        out["energy_missing_models"] = list(self.energy_missing_models)
        for name in ("by_site", "by_tier", "by_region"):
            groups: Mapping[str, Breakdown] = getattr(self, name)
            out[name] = {k: asdict(groups[k]) for k in sorted(groups)}
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


def censored_times_s(result: SimulationResult, metric: str, until_s: float, since_s: float = -math.inf) -> list[float]:
    """Each job's queueing ("queueing": arrival to first start) or JCT ("jct"), for jobs arriving in
    [since_s, until_s) that were not infeasible; a job not started (or not finished) by `until_s`
    counts its time until then, so a backlog that never starts is not left out."""
    out = []
    for r in result.records:
        if not since_s <= r.arrival_s < until_s or r.outcome is JobOutcome.INFEASIBLE:
            continue
        end = r.first_start_s if metric == "queueing" else r.finish_s
        out.append((min(end, until_s) if end is not None else until_s) - r.arrival_s)
    return out


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


@dataclass(frozen=True, slots=True)
class TenantShare:
    tenant: str
    weight: float
    cu_s: float
    device_s: float
    share: float
    fair_share: float


def tenant_shares(
    result: SimulationResult, start_s: float, end_s: float, cu_rate: Callable[[str, str], float | None]
) -> tuple[dict[str, TenantShare], float | None]:
    """Each tenant's CU share of [start_s, end_s) and Jain's index over share / fair share (see the
    module docstring). `cu_rate(model, job_type)`: CU per device-second; a model without one counts 1."""
    cu: dict[str, float] = {}
    dev: dict[str, float] = {}
    present: set[str] = set()
    for r in result.records:
        if r.arrival_s < end_s and (r.finish_s is None or r.finish_s > start_s) and r.outcome is not JobOutcome.INFEASIBLE:
            present.add(r.tenant)
        for iv in r.intervals:
            d = min(iv.end_s, end_s) - max(iv.start_s, start_s)
            if d <= 0:
                continue
            rate = cu_rate(iv.accelerator, r.job_type)
            cu[r.tenant] = cu.get(r.tenant, 0.0) + iv.num_devices * d * (1.0 if rate is None else rate)
            dev[r.tenant] = dev.get(r.tenant, 0.0) + iv.num_devices * d
    total = math.fsum(cu.values())
    weights = {t: (result.tenants[t].weight if t in result.tenants else 1.0) for t in sorted(present)}
    wsum = math.fsum(weights.values())
    out = {
        t: TenantShare(t, w, cu.get(t, 0.0), dev.get(t, 0.0), cu.get(t, 0.0) / total if total > 0 else 0.0, w / wsum if wsum > 0 else 0.0)
        for t, w in weights.items()
    }
    return out, jain_index([s.share / s.fair_share for s in out.values() if s.fair_share > 0])


def missed_deadline(record: JobRecord, run_end_s: float) -> bool:
    """Finished after its deadline, or unfinished while the deadline passed before the run ended
    (infeasible jobs never could run: not a miss)."""
    if record.deadline_s is None or record.outcome is JobOutcome.INFEASIBLE:
        return False
    if record.outcome is JobOutcome.FINISHED and record.finish_s is not None:
        return record.finish_s > record.deadline_s
    return record.deadline_s < run_end_s


def compute_metrics(result: SimulationResult) -> Metrics:
    """All metrics of one run (see the module docstring for each definition)."""
    recs = result.measured()
    finished = [r for r in recs if r.outcome is JobOutcome.FINISHED]
    finish_s = [r.finish_s for r in finished if r.finish_s is not None]  # the driver sets it on every finish
    jcts = [r.finish_s - r.arrival_s for r in finished if r.finish_s is not None]
    queues = [r.first_start_s - r.arrival_s for r in recs if r.first_start_s is not None]
    start_s = min((r.arrival_s for r in recs), default=result.start_s)
    last_arrival_s = max((r.arrival_s for r in recs), default=result.start_s)
    end_s = max(finish_s, default=result.end_s)
    horizon_s = max(0.0, end_s - start_s)
    util_by_model, util = _utilization(result, start_s, end_s)
    _, util_busy = _utilization(result, start_s, last_arrival_s)
    acct = _Accounts(result)
    for r in recs:
        acct.add_job(r)
    acct.add_idle(start_s, end_s)
    jain, over = _fairness(result, recs)
    started = [r for r in recs if r.first_start_s is not None]
    totals = acct.totals
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
        device_s=totals.device_h * 3600.0,
        energy_kwh=totals.energy_kwh,
        cost_usd=totals.cost_usd,
        carbon_kg=totals.carbon_kg,
        energy_missing_models=tuple(sorted(acct.missing)),
        jain_index=jain,
        jain_over=over,
        busy_window_s=max(0.0, last_arrival_s - start_s),
        utilization_busy_window=util_busy,
        price_carbon_from="static" if result.energy is None else "series",
        idle_energy_kwh=totals.idle_energy_kwh,
        idle_cost_usd=totals.idle_cost_usd,
        idle_carbon_kg=totals.idle_carbon_kg,
        data_moved_gb=math.fsum(r.data_moved_gb for r in recs),
        data_moved_gb_km=math.fsum(r.data_moved_gb_km for r in recs),
        jobs_outside_data_region=sum(bool(acct.outside_sites(r)) for r in recs),
        transfer_s=math.fsum(r.transfer_s for r in recs),
        avg_transfer_s=mean([r.transfer_s for r in started]),
        jobs_with_deadline=sum(r.deadline_s is not None for r in recs),
        deadline_misses=sum(missed_deadline(r, result.end_s) for r in recs),
        by_site=acct.groups(lambda s: s.id),
        by_tier=acct.groups(lambda s: str(s.tier)),
        by_region=acct.groups(lambda s: s.region),
    )


def job_energy(result: SimulationResult, record: JobRecord) -> JobEnergy:
    """One job's energy, cost and carbon, by the same rule as the run's totals."""
    acct = _Accounts(result)
    acct.add_job(record)
    t = acct.totals
    return JobEnergy(t.energy_kwh, t.cost_usd, t.carbon_kg)


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


class _Use(NamedTuple):
    """Devices held at one (site, model): device-seconds and their time integrals of price and carbon."""

    site: str
    model: str
    device_s: float
    price_dev_s: float  # device-s x USD/kWh
    carbon_dev_s: float  # device-s x gCO2/kWh


@dataclass(slots=True)
class _Sums:
    """Mutable per-site accumulator; frozen into a Breakdown at the end."""

    device_h: float = 0.0
    energy_kwh: float = 0.0
    cost_usd: float = 0.0
    carbon_kg: float = 0.0
    idle_energy_kwh: float = 0.0
    idle_cost_usd: float = 0.0
    idle_carbon_kg: float = 0.0
    data_moved_gb: float = 0.0
    data_moved_gb_km: float = 0.0

    def add(self, other: _Sums) -> None:
        for name in _Sums.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class _Accounts:
    """Energy, cost, carbon and data per site, from job records and the sites' idle devices."""

    def __init__(self, result: SimulationResult) -> None:
        self.result = result
        self.sites: dict[str, Site] = {s.id: s for s in result.sites}
        self.per_site: dict[str, _Sums] = {sid: _Sums() for sid in sorted(self.sites)}
        self.started: dict[str, set[str]] = {sid: set() for sid in self.per_site}  # site -> job ids
        self.outside: dict[str, set[str]] = {sid: set() for sid in self.per_site}
        self.missing: set[str] = set()

    def _site(self, site_id: str, job_id: str = "") -> Site:
        try:
            return self.sites[site_id]
        except KeyError:
            raise ValueError(f"job '{job_id}' held devices at site '{site_id}', which is not in the run's sites") from None

    def _integrals(self, site: Site, t0_s: float, t1_s: float) -> tuple[float, float]:
        """Integrals over [t0, t1) of price (USD/kWh x s) and carbon intensity (g/kWh x s)."""
        dur = t1_s - t0_s
        if dur <= 0:
            return 0.0, 0.0
        sig = self.result.energy
        if sig is None:
            return site.price_usd_per_kwh * dur, site.carbon_g_per_kwh * dur
        return sig.mean_price(site, t0_s, t1_s) * dur, sig.mean_carbon(site, t0_s, t1_s) * dur

    def _tdp_w(self, model: str) -> float | None:
        tdp = self.result.tdp_w.get(model)
        if tdp is None:
            self.missing.add(model)
        return tdp

    def uses(self, r: JobRecord, clip: tuple[float, float] | None = None) -> Iterable[_Use]:
        """Where `r` held devices; with `clip`, only the part inside [clip[0], clip[1])."""
        if not r.intervals:
            # Older drivers: no times, so no clipping and no time-varying prices.
            for (sid, model), dev_s in sorted(r.device_s.items()):
                site = self._site(sid, r.job_id)
                yield _Use(sid, model, dev_s, dev_s * site.price_usd_per_kwh, dev_s * site.carbon_g_per_kwh)
            return
        for iv in r.intervals:
            lo, hi = iv.start_s, iv.end_s
            if clip is not None:
                lo, hi = max(lo, clip[0]), min(hi, clip[1])
            if hi <= lo:
                continue
            price_s, carbon_s = self._integrals(self._site(iv.site, r.job_id), lo, hi)
            n = iv.num_devices
            yield _Use(iv.site, iv.accelerator, n * (hi - lo), n * price_s, n * carbon_s)

    def ran_at(self, r: JobRecord) -> list[str]:
        """Distinct sites where `r` held devices, in first-use order."""
        seq = [iv.site for iv in r.intervals] if r.intervals else [p.site for p in r.placements] or [s for s, _ in sorted(r.device_s)]
        return list(dict.fromkeys(seq))

    def outside_sites(self, r: JobRecord) -> list[str]:
        """Sites where `r` ran outside its data site's region (none when the data site is unknown)."""
        data = self.sites.get(r.data_site) if r.data_site is not None else None
        if data is None:
            return []
        return [s for s in self.ran_at(r) if s in self.sites and self.sites[s].region != data.region]

    def add_job(self, r: JobRecord) -> None:
        for u in self.uses(r):
            acc = self.per_site[u.site]
            acc.device_h += u.device_s / 3600.0
            tdp = self._tdp_w(u.model)
            if tdp is None:
                continue
            kwh_per_dev_s = tdp * self._site(u.site).pue / _J_PER_KWH
            acc.energy_kwh += u.device_s * kwh_per_dev_s
            acc.cost_usd += u.price_dev_s * kwh_per_dev_s
            acc.carbon_kg += u.carbon_dev_s * kwh_per_dev_s / 1000.0
        for sid in self.ran_at(r):
            if sid in self.started:
                self.started[sid].add(r.job_id)
        for sid in self.outside_sites(r):
            self.outside[sid].add(r.job_id)
        self._add_data(r)

    def _add_data(self, r: JobRecord) -> None:
        if not (r.data_moved_gb or r.data_moved_gb_km):
            return
        dests = [s for s in self.ran_at(r) if s != r.data_site and s in self.sites]
        if not dests:
            return  # moved but never held devices elsewhere: counted in the totals only
        src = self.sites.get(r.data_site) if r.data_site is not None else None
        km = [great_circle_km(src.lat, src.lon, self.sites[s].lat, self.sites[s].lon) if src else 0.0 for s in dests]
        total_km = math.fsum(km)
        for s, d_km in zip(dests, km, strict=True):
            acc = self.per_site[s]
            acc.data_moved_gb += r.data_moved_gb / len(dests)
            acc.data_moved_gb_km += r.data_moved_gb_km * (d_km / total_km if total_km > 0 else 1.0 / len(dests))

    def add_idle(self, start_s: float, end_s: float) -> None:
        """Idle draw of every site's devices over [start_s, end_s) (all jobs' holdings subtracted)."""
        if end_s <= start_s:
            return
        busy: dict[tuple[str, str], list[float]] = {}  # (site, model) -> [device-s, price x dev-s, carbon x dev-s]
        for r in self.result.records:
            for u in self.uses(r, clip=(start_s, end_s)):
                b = busy.setdefault((u.site, u.model), [0.0, 0.0, 0.0])
                b[0] += u.device_s
                b[1] += u.price_dev_s
                b[2] += u.carbon_dev_s
        span = end_s - start_s
        for sid in sorted(self.sites):
            site = self.sites[sid]
            price_s, carbon_s = self._integrals(site, start_s, end_s)
            acc = self.per_site[sid]
            for model, count in sorted(site.inventory.items()):
                tdp = self._tdp_w(model)
                if tdp is None or count <= 0:
                    continue
                b = busy.get((sid, model), [0.0, 0.0, 0.0])
                kwh_per_dev_s = IDLE_FRACTION * tdp * site.pue / _J_PER_KWH
                acc.idle_energy_kwh += max(0.0, count * span - b[0]) * kwh_per_dev_s
                acc.idle_cost_usd += max(0.0, count * price_s - b[1]) * kwh_per_dev_s
                acc.idle_carbon_kg += max(0.0, count * carbon_s - b[2]) * kwh_per_dev_s / 1000.0

    @property
    def totals(self) -> _Sums:
        out = _Sums()
        for acc in self.per_site.values():
            out.add(acc)
        return out

    def groups(self, key: Callable[[Site], str]) -> dict[str, Breakdown]:
        sums: dict[str, _Sums] = {}
        started: dict[str, set[str]] = {}
        outside: dict[str, set[str]] = {}
        for sid in sorted(self.sites):
            k = key(self.sites[sid])
            sums.setdefault(k, _Sums()).add(self.per_site[sid])
            started.setdefault(k, set()).update(self.started[sid])
            outside.setdefault(k, set()).update(self.outside[sid])
        return {k: Breakdown(**asdict(sums[k]), jobs_started=len(started[k]), jobs_outside_data_region=len(outside[k])) for k in sorted(sums)}


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
