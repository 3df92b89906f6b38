"""Prometheus metrics: `GET /metrics` in the text exposition format (OpenMetrics when asked for).

Who may read it: an admin token. The metrics carry every tenant's and site's labels, so a tenant
token gets 403; no token, 401 (the front door in `cpnet.api.app` checks it like on every path).

Two kinds of numbers, kept correct however many processes serve (`cpnet serve --workers N`: N API
worker processes, the reconciler in the leader; or several servers on one PostgreSQL database):

1. State, read from the Store at scrape time (`StoreCollector`), so every process that answers a
   scrape gives the same numbers, whichever worker Prometheus reaches. Each is one aggregate query
   (GROUP BY in the database; no job spec is read):

   cpnet_site_up{site}                        gauge      1 while the site is up, 0 when down
   cpnet_site_devices{site,model}             gauge      the site's nominal inventory
   cpnet_site_devices_busy{site,model}        gauge      devices held by scheduled and running jobs
   cpnet_site_power_watts{site}               gauge      facility draw by `cpnet.core.power`:
                                                         PUE x (busy TDP + IDLE_FRACTION x idle TDP)
   cpnet_site_energy_kwh_total{site}          counter    energy of the site's ended attempts (below)
   cpnet_site_carbon_grams_total{site}        counter    that energy x the site's gCO2/kWh
   cpnet_jobs{state}                          gauge      jobs in each state (every state, zeros too)
   cpnet_queued_jobs{tenant}                  gauge      pending jobs of each tenant (every tenant)
   cpnet_job_wait_seconds{tenant}             histogram  submission to first start, over every job
                                                         that has started (buckets counted in SQL)
   cpnet_metrics_store_query_seconds          gauge      what this scrape's store queries took

   Units: seconds and watts are Prometheus base units. Energy is in kWh, the domain's unit (the
   usage API's `energy_kwh`, the sites' price per kWh and gCO2 per kWh), not joules: say
   `* 3.6e6` for joules. Carbon is in grams (base unit of mass); divide by 1000 for kg.

   Energy of an attempt is the one `/v1/usage` reports: the executor's device-counter reading
   (NVML) when there is one, else device-seconds x catalog TDP x the site's PUE (models without a
   TDP, such as the local CPU pool, count 0). It is counted when the attempt ends: a counter must
   never go down, and a running attempt's clock estimate may be replaced by a smaller engine
   figure when it ends. `cpnet_site_power_watts` shows the draw meanwhile; it also counts the idle
   devices, which the attempts do not. Carbon uses the site's stored intensity (a scenario's time
   series is the reconciler's, not the store's), so re-registering a site with another PUE or
   intensity rescales its history.

2. Events, counted where they happen, in prometheus_client's multiprocess mode: every process of
   one `cpnet serve` (the leader's reconciler and each API worker) writes its values to mmap files
   in DATA_DIR/metrics ($PROMETHEUS_MULTIPROC_DIR, which the workers inherit), and a scrape merges
   all the files, those of exited workers included (so counters never go down when a worker is
   restarted). `use_multiprocess_dir` empties the directory when the server starts:

   cpnet_reconciler_step_duration_seconds     histogram  every reconciler step (observe, decide, act)
   cpnet_reconciler_step_failures_total       counter    steps that raised (retried next tick)
   cpnet_scheduling_cycle_duration_seconds    histogram  steps that ran the scheduler: snapshot,
                                                         policy, the decision's commit, launches
   cpnet_scheduling_cycle_placements          histogram  jobs placed (pending -> scheduled) per such
                                                         cycle; its _sum counts every placement
   cpnet_submission_duration_seconds{code}    histogram  POST /v1/jobs from the handler's start (the
                                                         token already checked) to the answer sent,
                                                         by HTTP status

   Chosen over persisting them in the store: no schema change and no write per step or per
   submission. The price: they are per server (a restart starts them at zero, which Prometheus
   handles as a counter reset), and a reconciler in another server is scraped at that server.

An app made without `cpnet serve` (tests calling `create_app`) keeps the event metrics in this
process's memory instead. Labels are bounded: site, model, tenant, state, code; never a job id.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import case, func, select

from cpnet.api.app import Services
from cpnet.api.deps import Admin, Svc
from cpnet.control.reconciler import StepReport
from cpnet.control.store import schema as t
from cpnet.core.power import site_draw_kw, tdp_kw
from cpnet.core.states import JobState, SiteState

log = logging.getLogger("cpnet.api")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Submission to first start: from sub-second (an idle network) to a day (a deep backlog).
WAIT_BUCKETS_S = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0)
STEP_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PLACEMENT_BUCKETS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0)
SUBMIT_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# -- event metrics -------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventMetrics:
    step: Histogram
    step_failures: Counter
    cycle: Histogram
    placements: Histogram
    submission: Histogram
    registry: CollectorRegistry | None  # in-process mode only; None: the values are in the multiprocess files


_events: EventMetrics | None = None
_events_lock = threading.Lock()


def multiprocess_dir() -> str | None:
    d = os.environ.get(MULTIPROC_ENV)
    return d if d and os.path.isdir(d) else None


def events() -> EventMetrics:
    """This process's event metrics, made on first use (in the multiprocess files when $PROMETHEUS_MULTIPROC_DIR is set)."""
    global _events
    if _events is None:
        with _events_lock:
            if _events is None:
                registry = None if multiprocess_dir() else CollectorRegistry()
                _events = EventMetrics(
                    step=Histogram("cpnet_reconciler_step_duration_seconds", "Duration of each reconciler step.", registry=registry, buckets=STEP_BUCKETS_S),
                    step_failures=Counter("cpnet_reconciler_step_failures", "Reconciler steps that raised (retried on the next tick).", registry=registry),
                    cycle=Histogram(
                        "cpnet_scheduling_cycle_duration_seconds",
                        "Duration of the reconciler steps that ran the scheduler: snapshot, policy, commit of the decision, launches.",
                        registry=registry,
                        buckets=STEP_BUCKETS_S,
                    ),
                    placements=Histogram(
                        "cpnet_scheduling_cycle_placements",
                        "Jobs placed (pending -> scheduled) per scheduling cycle.",
                        registry=registry,
                        buckets=PLACEMENT_BUCKETS,
                    ),
                    submission=Histogram(
                        "cpnet_submission_duration_seconds",
                        "POST /v1/jobs from the handler's start (token checked) to the answer sent, by HTTP status.",
                        ["code"],
                        registry=registry,
                        buckets=SUBMIT_BUCKETS_S,
                    ),
                    registry=registry,
                )
    return _events


def use_multiprocess_dir(path: Path) -> Path:
    """Called by `cpnet serve`'s main process before it starts workers or the reconciler: event
    metrics of this process and of every child go to mmap files in `path`, emptied now."""
    global _events
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for f in path.glob("*.db"):
        f.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    with _events_lock:
        # prometheus_client picks the value class at import; it may have been imported before the variable was set.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        _events = None
    events()  # the step histograms exist (as zeros) before the first step
    return path


def observe_step(report: StepReport | None, seconds: float) -> None:
    """`ReconcilerLoop`'s hook: one step took `seconds`; `report` None when it raised."""
    ev = events()
    ev.step.observe(seconds)
    if report is None:
        ev.step_failures.inc()
        return
    if report.decide_s is not None:
        ev.cycle.observe(report.decide_s)
        ev.placements.observe(report.scheduled)


def observe_submission(status: int, seconds: float) -> None:
    events().submission.labels(str(status)).observe(seconds)


# -- state metrics -------------------------------------------------------------------------------
class StoreCollector:
    """The state-derived metrics (module docstring, part 1), read from the store at each collect()."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        svc = self.services
        store, catalog = svc.store, svc.catalog
        t0 = time.perf_counter()
        sites = store.list_sites()
        busy = store.devices_in_use()
        tenants = sorted(store.tenants())
        jc = t.jobs.c
        ac = t.attempts.c
        with store.engine.connect() as c:
            by_state = {str(s): int(n) for s, n in c.execute(select(jc.state, func.count()).group_by(jc.state))}
            queued = {
                str(tn): int(n) for tn, n in c.execute(select(jc.tenant_id, func.count()).where(jc.state == JobState.PENDING.value).group_by(jc.tenant_id))
            }
            # Energy of ended attempts: measured kWh where the executor reported it, else device-seconds for the TDP estimate.
            clock_s = case((ac.end_s > ac.start_s, (ac.end_s - ac.start_s) * ac.num_devices), else_=0.0)
            est_device_s = case((ac.energy_kwh.is_(None), func.coalesce(ac.device_s, clock_s)), else_=0.0)
            energy_rows = list(
                c.execute(
                    select(ac.site, ac.accelerator, func.coalesce(func.sum(ac.energy_kwh), 0.0), func.coalesce(func.sum(est_device_s), 0.0))
                    .where(ac.end_s.is_not(None))
                    .group_by(ac.site, ac.accelerator)
                )
            )
            # Wait: each started job's first attempt start minus its submission, bucketed in the database.
            first = select(ac.job_id, func.min(ac.start_s).label("first_s")).group_by(ac.job_id).subquery()
            raw = first.c.first_s - jc.submitted_s
            wait = case((raw < 0, 0.0), else_=raw)
            cols: list[Any] = [jc.tenant_id, func.count(), func.coalesce(func.sum(wait), 0.0)]
            cols += [func.sum(case((wait <= b, 1), else_=0)) for b in WAIT_BUCKETS_S]
            wait_rows = list(c.execute(select(*cols).select_from(first.join(t.jobs, jc.id == first.c.job_id)).group_by(jc.tenant_id)))
        query_s = time.perf_counter() - t0

        up = GaugeMetricFamily("cpnet_site_up", "1 while the site is up, 0 while it is down.", labels=["site"])
        devices = GaugeMetricFamily("cpnet_site_devices", "Devices in the site's nominal inventory.", labels=["site", "model"])
        devices_busy = GaugeMetricFamily("cpnet_site_devices_busy", "Devices held by scheduled and running jobs.", labels=["site", "model"])
        power = GaugeMetricFamily(
            "cpnet_site_power_watts", "Facility draw by cpnet.core.power: PUE x (busy TDP + IDLE_FRACTION x idle TDP), in watts.", labels=["site"]
        )
        by_site = {r.site.id: r.site for r in sites}
        for rec in sites:
            site = rec.site
            up.add_metric([site.id], 1.0 if rec.state == SiteState.UP else 0.0)
            held = {m: n for (s, m), n in busy.items() if s == site.id}
            for model in sorted(set(site.inventory) | set(held)):
                devices.add_metric([site.id, model], float(site.inventory.get(model, 0)))
                devices_busy.add_metric([site.id, model], float(held.get(model, 0)))
            power.add_metric([site.id], 1000.0 * site_draw_kw(site, held, catalog))
        yield from (up, devices, devices_busy, power)

        energy = CounterMetricFamily(
            "cpnet_site_energy_kwh", "Energy of the site's ended attempts, kWh (device counters, else device-seconds x TDP x PUE).", labels=["site"]
        )
        carbon = CounterMetricFamily("cpnet_site_carbon_grams", "CO2 of that energy at the site's carbon intensity, grams.", labels=["site"])
        kwh: dict[str, float] = {}
        for site_id, model, measured, est_s in energy_rows:
            known = by_site.get(site_id)
            pue = known.pue if known is not None else 1.0
            kwh[site_id] = kwh.get(site_id, 0.0) + float(measured) + float(est_s) * tdp_kw(model, catalog) * pue / 3600.0
        for site_id in sorted(set(kwh) | set(by_site)):
            e = kwh.get(site_id, 0.0)
            known = by_site.get(site_id)
            energy.add_metric([site_id], e)
            carbon.add_metric([site_id], e * (known.carbon_g_per_kwh if known is not None else 0.0))
        yield from (energy, carbon)

        jobs = GaugeMetricFamily("cpnet_jobs", "Jobs in each state.", labels=["state"])
        for state in JobState:
            jobs.add_metric([state.value], float(by_state.get(state.value, 0)))
        queue = GaugeMetricFamily("cpnet_queued_jobs", "Pending jobs of each tenant (waiting for a placement).", labels=["tenant"])
        for tenant in sorted(set(tenants) | set(queued)):
            queue.add_metric([tenant], float(queued.get(tenant, 0)))
        yield from (jobs, queue)

        waits = HistogramMetricFamily("cpnet_job_wait_seconds", "Time from a job's submission to its first start.", labels=["tenant"])
        seen = set()
        for row in wait_rows:
            tenant, count, total, *counts = row
            seen.add(tenant)
            buckets = [(_le(b), float(n or 0)) for b, n in zip(WAIT_BUCKETS_S, counts, strict=True)] + [("+Inf", float(count))]
            waits.add_metric([tenant], buckets, float(total))
        for tenant in tenants:
            if tenant not in seen:
                waits.add_metric([tenant], [(_le(b), 0.0) for b in WAIT_BUCKETS_S] + [("+Inf", 0.0)], 0.0)
        yield waits
        yield GaugeMetricFamily("cpnet_metrics_store_query_seconds", "Time this scrape's store queries took.", value=query_s)


def _le(bound: float) -> str:
    return repr(float(bound))


class _Exposition:
    """What one scrape answers: the store's state and every process's event metrics."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterable[Metric]:
        yield from StoreCollector(self.services).collect()
        ev = events()
        d = multiprocess_dir()
        if ev.registry is None and d is not None:
            yield from MultiProcessCollector(None, path=d).collect()  # type: ignore[no-untyped-call]
        elif ev.registry is not None:
            yield from ev.registry.collect()


router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)  # Prometheus' text format, not a JSON resource of the API
def metrics(request: Request, svc: Svc, _who: Admin) -> Response:
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(_Exposition(svc)), headers={"Content-Type": content_type})
