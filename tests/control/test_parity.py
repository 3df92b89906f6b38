"""Parity: the same job list through the simulator and through the control plane (reconciler +
simulated executor + manual clock) gives identical placement decisions, job by job."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.control.loop import ManualClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig
from cpnet.control.store import Store
from cpnet.control.throughput import ControlThroughput
from cpnet.core.energy import EnergySignals, Series, SiteEnergy
from cpnet.core.model import JobSpec, Site, Tenant, Tier
from cpnet.executors.simulated import SimulatedExecutor
from cpnet.sched.runner import SchedulerConfig
from cpnet.sim.driver import run_simulation

SITES = (
    Site("east", Tier.CLOUD, "east", 31.2, 121.5, {"V100": 4, "K80": 4}),
    Site("west", Tier.CLOUD, "west", 38.5, 106.3, {"P100": 3}),
)
TENANTS = {"t1": Tenant("t1", 1.0), "t2": Tenant("t2", 2.0)}
TYPES = ["ResNet-18 (batch size 64)", "A3C", "Transformer (batch size 128)", "LM (batch size 20)"]


class Net:
    sites = SITES
    links = ()
    tenants = TENANTS


def _jobs() -> list[JobSpec]:
    """24 jobs arriving in bursts (several at one timestamp), 1-4 devices, enough to queue."""
    out = []
    for i in range(24):
        out.append(
            JobSpec(
                id=f"job{i:02d}",
                tenant="t1" if i % 3 else "t2",
                job_type=TYPES[i % len(TYPES)],
                num_devices=(1, 2, 1, 4, 1, 2)[i % 6],
                total_steps=2000.0 + 700.0 * (i % 5),
                arrival_s=float(40 * (i // 3)),
            )
        )
    return out


def _control_plane(
    tmp_path: Path,
    jobs: list[JobSpec],
    policy: str,
    sites: tuple[Site, ...] = SITES,
    energy: EnergySignals | None = None,
    restart_at_s: float | None = None,
) -> dict[str, list[tuple[float, str, str, int]]]:
    """Placements of the control plane, job by job; with `restart_at_s`: the server restarts (a new
    store connection and reconciler; the executor's runs go on, as processes outlive a server)."""
    store = Store(f"sqlite:///{tmp_path / 'parity.db'}")
    store.migrate()
    for s in sites:
        store.upsert_site(s, "scenario", 0.0)
    for t in TENANTS.values():
        store.create_tenant(t.id, t.weight, 0.0)
    catalog = load_catalog()
    throughput = ControlThroughput(load_throughputs(catalog))
    clock = ManualClock(0.0)
    ex = SimulatedExecutor(clock, throughput)
    config = ReconcilerConfig(scheduler=SchedulerConfig(policy), run_dir=str(tmp_path / "runs"), site_heartbeat_s=math.inf)
    rec = Reconciler(store, ex, clock, config, throughput=throughput, catalog=catalog, energy=energy)
    round_s = rec.policy.round_s
    queue = list(jobs)
    first = True
    for _ in range(10_000):
        t_arr = queue[0].arrival_s if queue else math.inf
        t_fin = ex.next_finish_s() or math.inf
        t_round = math.inf if round_s is None else (math.floor(clock.now() / round_s + 1e-9) + 1) * round_s
        if not queue and t_fin == math.inf and not store.active_jobs():
            break
        t = 0.0 if first else min(t_arr, t_fin, t_round)  # round-based policies decide at 0, R, 2R, ...
        first = False
        if restart_at_s is not None and t >= restart_at_s:
            restart_at_s = None
            store.close()
            store = Store(f"sqlite:///{tmp_path / 'parity.db'}")
            rec = Reconciler(store, ex, clock, config, throughput=throughput, catalog=catalog, energy=energy)
        clock.set(t)
        while queue and queue[0].arrival_s <= clock.now():
            j = queue.pop(0)
            spec = {"command": ["true"], "job_type": j.job_type, "devices": j.num_devices, "total_steps": j.total_steps}
            store.submit_job(j.tenant, j.id, spec, j.arrival_s, job_id=j.id)
        rec.step()
    out: dict[str, list[tuple[float, str, str, int]]] = {}
    for row in sorted(store.usage_rows(), key=lambda r: (r["job_id"], r["attempt"])):
        out.setdefault(row["job_id"], []).append((round(row["start_s"], 6), row["site"], row["accelerator"], row["num_devices"]))
    return out


@pytest.mark.parametrize("policy", ["fifo", "las", "gavel-fifo", "gavel-las"])
def test_simulator_and_control_plane_place_identically(tmp_path: Path, policy: str) -> None:
    jobs = _jobs()
    catalog = load_catalog()
    result = run_simulation(scenario=Net(), jobs=jobs, policy=policy, throughput=load_throughputs(catalog), catalog=catalog, seed=0)
    sim = {r.job_id: [(round(p.time_s, 6), p.site, p.accelerator, p.num_devices) for p in r.placements] for r in result.records if r.placements}
    live = _control_plane(tmp_path, jobs, policy)
    assert len(sim) >= 3  # the comparison is about real placements
    assert live == sim


@pytest.mark.parametrize("policy", ["gavel-las", "fair-share"])
def test_a_server_restart_midway_changes_no_placement(tmp_path: Path, policy: str) -> None:
    """Round accounting (gavel-las) and usage history (fair-share) come back from the store."""
    jobs = _jobs()
    catalog = load_catalog()
    result = run_simulation(scenario=Net(), jobs=jobs, policy=policy, throughput=load_throughputs(catalog), catalog=catalog, seed=0)
    sim = {r.job_id: [(round(p.time_s, 6), p.site, p.accelerator, p.num_devices) for p in r.placements] for r in result.records if r.placements}
    ends = sorted(e for r in result.records for e in [r.finish_s] if e is not None)
    restart = ends[len(ends) // 3]  # after a third of the jobs ended: history and rounds to lose
    live = _control_plane(tmp_path, jobs, policy, restart_at_s=restart)
    assert live == sim


# Both sites have V100 and K80, so where a job goes is the scores' choice. East is cheaper until
# t = 300 s, then a time-of-use step makes west cheaper (and east dirtier): placements must follow
# the price in force, identically in both clocks.
TOU_SITES = (
    Site("east", Tier.CLOUD, "east", 31.2, 121.5, {"V100": 4, "K80": 4}, power_cap_kw=2.0),
    Site("west", Tier.CLOUD, "west", 38.5, 106.3, {"V100": 3, "K80": 2}),
)
TOU = EnergySignals(
    0.0,
    {
        "east": SiteEnergy(Series((0.0, 300.0), (0.03, 0.30), "test TOU east"), Series((0.0, 300.0), (300.0, 600.0), "test carbon east")),
        "west": SiteEnergy(Series((0.0,), (0.12,), "test flat west")),
    },
)


class TouNet:
    sites = TOU_SITES
    links = ()
    tenants = TENANTS
    energy = TOU


def test_convergent_follows_a_time_of_use_change_identically(tmp_path: Path) -> None:
    jobs = _jobs()
    catalog = load_catalog()
    result = run_simulation(scenario=TouNet(), jobs=jobs, policy="convergent", throughput=load_throughputs(catalog), catalog=catalog, seed=0)
    sim = {r.job_id: [(round(p.time_s, 6), p.site, p.accelerator, p.num_devices) for p in r.placements] for r in result.records if r.placements}
    live = _control_plane(tmp_path, jobs, "convergent", TOU_SITES, TOU)
    assert live == sim
    starts = [p for r in result.records for p in r.placements]
    early = {p.site for p in starts if p.time_s < 300.0}
    late_new = {r.placements[0].site for r in result.records if r.placements and r.placements[0].time_s >= 300.0}
    assert "east" in early and "west" in late_new  # the price change really moved new work
