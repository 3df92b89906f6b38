"""The control plane reports data movement and reads energy by the wall clock (simulated executor,
manual clock, SQLite)."""

from __future__ import annotations

import math
from pathlib import Path

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.control.loop import ManualClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig
from cpnet.control.store import Store
from cpnet.control.throughput import ControlThroughput
from cpnet.core.energy import EnergySignals, Series, SiteEnergy
from cpnet.core.model import Link, Site, Tier
from cpnet.executors.simulated import SimulatedExecutor
from cpnet.sched.runner import SchedulerConfig

EAST = Site("east", Tier.CLOUD, "east", 31.2, 121.5, {})  # the data, no devices
WEST = Site("west", Tier.CLOUD, "west", 38.5, 106.3, {"V100": 2})
LINK = Link("east", "west", 20.0, 8.0)  # 8 Gbps: 80 GB take 80 s, plus the 20 ms round trip


def _reconciler(tmp_path: Path, energy: EnergySignals | None = None) -> tuple[Reconciler, Store, ManualClock]:
    store = Store(f"sqlite:///{tmp_path / 'live.db'}")
    store.migrate()
    for s in (EAST, WEST):
        store.upsert_site(s, "scenario", 0.0)
    store.create_tenant("t", 1.0, 0.0)
    catalog = load_catalog()
    throughput = ControlThroughput(load_throughputs(catalog))
    clock = ManualClock(1000.0)
    config = ReconcilerConfig(scheduler=SchedulerConfig("convergent"), run_dir=str(tmp_path / "runs"), site_heartbeat_s=math.inf)
    rec = Reconciler(store, SimulatedExecutor(clock, throughput), clock, config, throughput=throughput, catalog=catalog, links=(LINK,), energy=energy)
    return rec, store, clock


def test_a_placement_away_from_the_data_reports_the_transfer(tmp_path: Path) -> None:
    rec, store, clock = _reconciler(tmp_path)
    spec = {"command": ["true"], "job_type": "A3C", "devices": 1, "total_steps": 100.0, "data_site": "east", "data_gb": 80.0}
    store.submit_job("t", "j1", spec, clock.now(), job_id="j1")
    clock.set(1080.0)  # a round boundary of the convergent policy (360 s rounds)
    rec.step()
    msgs = [e["message"] for e in store.job_events("j1") if e["kind"] == "scheduled"]
    assert msgs and "80 GB of data to move from east, about 80 s" in msgs[0]


def test_the_snapshot_carries_the_energy_values_at_the_wall_clock(tmp_path: Path) -> None:
    price = Series((0.0, 2000.0), (0.30, 0.05), "test price")
    rec, _store, clock = _reconciler(tmp_path, EnergySignals(0.0, {"west": SiteEnergy(price_usd_per_kwh=price)}))
    for now, want in ((1000.0, 0.30), (2500.0, 0.05)):
        clock.set(now)
        snap = rec.snapshot(clock.now())
        assert {s.id: s.price_usd_per_kwh for s in snap.sites}["west"] == want
        assert snap.energy is not None
