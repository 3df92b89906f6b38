"""Invariants checked on every event of real-trace replays (the shipped Philly sample).

250 consecutive jobs of the sample (a window holding two 32-GPU jobs and one 24-GPU job) replayed
on a literal two-site cluster of 16 V100 + 16 P100 + 16 K80 + 8 V100: jobs queue up, so the
preempting policies really preempt and move jobs, and the jobs larger than any pool exercise the
infeasible path.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.core.model import Site, Tier
from cpnet.sim.driver import SimEvent, SimState, run_simulation
from cpnet.sim.records import JobOutcome
from cpnet.sim.traces import open_trace
from sim_toy import ToyNetwork

WINDOW = (700, 950)
BIG = 16  # devices in the largest pool


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    catalog = load_catalog()
    throughput = load_throughputs(catalog)
    jobs = list(open_trace("philly-sample", throughput=throughput, seed=0, limit=WINDOW[1]))[WINDOW[0] :]
    sites = (
        Site("big", Tier.CLOUD, "east", 31.2, 121.5, {"V100": BIG, "P100": BIG, "K80": BIG}, pue=1.3),
        Site("small", Tier.CLOUD, "west", 38.5, 106.3, {"V100": 8}, pue=1.1, price_usd_per_kwh=0.05),
    )
    return ToyNetwork(sites), jobs, throughput, catalog


class Checker:
    """Called on every event; asserts the pools and each job's lifecycle stay consistent."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        self.state: dict[str, str] = {}  # job id -> waiting | running | ended
        self.ends: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.last_t = -math.inf

    def __call__(self, ev: SimEvent, sim: SimState) -> None:
        self.kinds[ev.kind] += 1
        assert ev.time_s >= self.last_t, "time went backwards"
        self.last_t = ev.time_s
        before = self.state.get(ev.job_id)
        expected_before = {
            "arrival": None, "start": "waiting", "move": "running", "preempt": "running",
            "finish": "running", "infeasible": "waiting",
        }[ev.kind]  # fmt: skip
        # a job that finishes was running; the driver releases it just before emitting `finish`
        assert before == expected_before, f"{ev.kind} of {ev.job_id} while {before}"
        self.state[ev.job_id] = {"arrival": "waiting", "start": "running", "move": "running",
                                 "preempt": "waiting", "finish": "ended", "infeasible": "ended"}[ev.kind]  # fmt: skip
        if ev.kind in ("finish", "infeasible"):
            self.ends[ev.job_id] += 1
        if ev.placement is not None:
            assert ev.placement.num_devices == self.sizes[ev.job_id], "gang size differs from the job's"
        self._check_pools(sim)

    def _check_pools(self, sim: SimState) -> None:
        held: Counter[tuple[str, str]] = Counter()
        for p in sim.running().values():
            held[p.pool] += p.num_devices
        by_model: Counter[str] = Counter()
        for pool, cap in sim.capacity.items():
            free = sim.free[pool]
            assert 0 <= free <= cap, f"pool {pool}: free {free} of {cap}"
            assert held[pool] + free == cap, f"pool {pool}: {held[pool]} held + {free} free != {cap}"
            by_model[pool[1]] += held[pool]
        assert dict(sim.busy_by_model) == {m: by_model[m] for m in sim.busy_by_model}


@pytest.mark.parametrize("policy", ["fifo", "las", "gavel-fifo", "gavel-las"])
def test_every_event_keeps_pools_and_lifecycles_consistent(world, policy: str) -> None:  # type: ignore[no-untyped-def]
    scenario, jobs, throughput, catalog = world
    checker = Checker({j.id: j.num_devices for j in jobs})
    result = run_simulation(scenario=scenario, jobs=jobs, policy=policy, throughput=throughput, catalog=catalog, on_event=checker)

    # every job arrives once and ends exactly once, as finished or infeasible
    assert len(result.records) == len(jobs)
    assert [r.job_id for r in result.records] == [j.id for j in jobs]
    assert set(checker.ends) == {j.id for j in jobs} and set(checker.ends.values()) == {1}
    outcomes = Counter(r.outcome for r in result.records)
    assert outcomes[JobOutcome.UNFINISHED] == 0
    assert outcomes[JobOutcome.INFEASIBLE] == sum(j.num_devices > BIG for j in jobs) > 0
    for r in result.records:
        if r.outcome is JobOutcome.FINISHED:
            assert r.arrival_s <= r.first_start_s <= r.finish_s  # type: ignore[operator]

    # device-seconds are conserved: what jobs held == the integral of busy devices over time
    per_job = math.fsum(r.total_device_s for r in result.records)
    timeline = math.fsum(s.busy_device_s(result.start_s, result.end_s) for s in result.utilization.values())
    assert per_job == pytest.approx(timeline, rel=1e-9)
    assert per_job > 0
    if policy in ("las", "gavel-las"):
        assert checker.kinds["preempt"] + checker.kinds["move"] > 0  # the preemptive paths really ran


def test_same_seed_gives_identical_records(world) -> None:  # type: ignore[no-untyped-def]
    scenario, jobs, throughput, catalog = world
    runs = [run_simulation(scenario=scenario, jobs=jobs[:120], policy="gavel-las", throughput=throughput, catalog=catalog) for _ in range(2)]
    assert runs[0].records == runs[1].records


# ---- power caps, energy series and deadlines -------------------------------------------------------
# The same window on two capped sites with a daily carbon and price cycle (east dirty and dear by
# day), data at the east site, a third of the jobs deferrable with a 24 h slack. Checked on every
# event: no site draws more than its cap (computed here from the running gangs and the catalog's
# TDPs, independently of the driver's own bookkeeping).


def _energy_world(world):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from cpnet.core.energy import EnergySignals, Series, SiteEnergy
    from cpnet.core.model import Link, Tenant
    from cpnet.sim.traces.tenancy import assign_tenants, with_slack

    scenario, jobs, throughput, catalog = world
    big, small = scenario.sites
    sites = (replace(big, power_cap_kw=9.0), replace(small, power_cap_kw=2.0))
    day = 86400.0
    energy = EnergySignals(
        0.0,
        {
            "big": SiteEnergy(Series((0.0, 8 * 3600.0, 20 * 3600.0), (0.05, 0.20, 0.05), "test TOU", period_s=day),
                              Series((0.0, 8 * 3600.0, 20 * 3600.0), (300.0, 800.0, 300.0), "test carbon", period_s=day)),
            "small": SiteEnergy(None, Series((0.0, 12 * 3600.0), (100.0, 600.0), "test carbon small", period_s=day)),
        },
    )  # fmt: skip

    class Net:
        pass

    net = Net()
    net.sites, net.links, net.energy = sites, (Link("big", "small", 30.0, 10.0),), energy  # type: ignore[attr-defined]
    net.tenants = {"t": Tenant("t", 1.0, home_site="big")}  # type: ignore[attr-defined]
    specs = list(with_slack(assign_tenants(jobs, net.tenants, 0), 24 * 3600.0, 1 / 3, 0))  # type: ignore[attr-defined]
    return net, specs, throughput, catalog


class PowerChecker:
    def __init__(self, sites, catalog) -> None:  # type: ignore[no-untyped-def]
        from cpnet.core.power import site_draw_kw

        self.draw = site_draw_kw
        self.sites = {s.id: s for s in sites}
        self.catalog = catalog
        self.events = 0
        self.peak: dict[str, float] = {}

    def __call__(self, ev: SimEvent, sim: SimState) -> None:
        self.events += 1
        busy: dict[str, Counter[str]] = {s: Counter() for s in self.sites}
        for p in sim.running().values():
            busy[p.site][p.accelerator] += p.num_devices
        for sid, s in self.sites.items():
            kw = self.draw(s, busy[sid], self.catalog)
            self.peak[sid] = max(self.peak.get(sid, 0.0), kw)
            assert kw <= s.power_cap_kw + 1e-6, f"{sid} draws {kw:.3f} kW > cap {s.power_cap_kw} at t={ev.time_s}"


@pytest.mark.parametrize("policy", ["fifo", "gavel-las", "convergent", "carbon-aware", "cost-aware"])
def test_power_caps_hold_on_every_event(world, policy: str) -> None:  # type: ignore[no-untyped-def]
    net, specs, throughput, catalog = _energy_world(world)
    checker = PowerChecker(net.sites, catalog)
    result = run_simulation(scenario=net, jobs=specs, policy=policy, throughput=throughput, catalog=catalog, on_event=checker)
    assert checker.events > 2 * len(specs)
    assert checker.peak["big"] > 0.9 * net.sites[0].power_cap_kw  # the cap really binds
    assert sum(r.outcome is JobOutcome.FINISHED for r in result.records) > 0.9 * len(specs)


def test_deferral_never_misses_a_deadline_that_starting_at_once_meets(world) -> None:  # type: ignore[no-untyped-def]
    from cpnet.sched.runner import SchedulerConfig
    from cpnet.sim.metrics import compute_metrics, missed_deadline

    net, specs, throughput, catalog = _energy_world(world)
    runs = {}
    for name, params in (("now", {"defer": False}), ("later", {})):
        runs[name] = run_simulation(scenario=net, jobs=specs, policy=SchedulerConfig("carbon-aware", params), throughput=throughput, catalog=catalog)
    met_now = {r.job_id for r in runs["now"].records if r.deadline_s is not None and not missed_deadline(r, runs["now"].end_s)}
    missed_later = {r.job_id for r in runs["later"].records if r.deadline_s is not None and missed_deadline(r, runs["later"].end_s)}
    assert len(met_now) > 20 and not (met_now & missed_later)
    held = [r for r in runs["later"].records if r.deadline_s is not None and r.queue_s is not None and r.queue_s > 3600.0]
    assert held, "some deferrable job was really held for a better hour"
    assert compute_metrics(runs["later"]).jobs_finished == compute_metrics(runs["now"]).jobs_finished
