"""The driver's network and power rules on literal networks: data transfer delays a job's progress
(and is recorded), a start over a site's power cap is a policy bug, and the snapshot carries the
energy values in force at its time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cpnet.core.energy import EnergySignals, Series, SiteEnergy
from cpnet.core.model import JobSpec, Link, Site, Tier
from cpnet.core.snapshot import Decision, Placement, Snapshot
from cpnet.sim.driver import run_simulation
from cpnet.sim.engine import SimulationError
from sim_toy import CATALOG, THROUGHPUT, GreedyFifo, ToyNetwork

EAST = Site("east", Tier.CLOUD, "E", 40.0, 116.0, {"V100": 2}, pue=1.0)
WEST = Site("west", Tier.CLOUD, "W", 38.5, 106.3, {"V100": 2}, pue=1.0)
LINK = Link("east", "west", 20.0, 8.0)  # 8 Gbps: 1 GB takes 1 s, plus 20 ms round trip


class Pin:
    """Start every waiting job at `site` (one device each), as long as devices are free."""

    name = "pin"
    round_s = None

    def __init__(self, site: str) -> None:
        self.site = site
        self.seen: list[Snapshot] = []

    def decide(self, snap: Snapshot) -> Decision:
        self.seen.append(snap)
        free = snap.free.get((self.site, "V100"), 0)
        out = []
        for v in snap.jobs:
            if v.placement is None and free >= v.spec.num_devices:
                out.append(Placement(v.id, self.site, "V100", v.spec.num_devices))
                free -= v.spec.num_devices
        return Decision(placements=tuple(out))


def _job(i: int, **kw: object) -> JobSpec:
    return JobSpec(f"j{i}", "a", "t", 1, 200.0, float(i), **kw)  # type: ignore[arg-type]  # 100 s on one V100


@pytest.mark.parametrize(("site", "gb", "delay_s"), [("west", 100.0, 100.02), ("east", 100.0, 0.0), ("west", 0.0, 0.0)])
def test_transfer_delays_progress_and_is_recorded(site: str, gb: float, delay_s: float) -> None:
    net = ToyNetwork((EAST, WEST), (LINK,))
    spec = _job(0, data_site="east", data_gb=gb)
    r = run_simulation(scenario=net, jobs=[spec], policy=Pin(site), throughput=THROUGHPUT, catalog=CATALOG).records[0]
    assert r.finish_s == pytest.approx(100.0 + delay_s)
    assert r.transfer_s == pytest.approx(delay_s)
    assert r.data_moved_gb == (gb if delay_s else 0.0)
    if delay_s:
        assert 800 < r.data_moved_gb_km / gb < 900  # Beijing-Yinchuan is ~850 km great-circle
    assert r.intervals == ((0.0, pytest.approx(100.0 + delay_s), site, "V100", 1),)


def test_a_start_over_the_power_cap_stops_the_run() -> None:
    # 2 x V100 (300 W) at PUE 1: idle 0.09 kW, each busy device adds 0.255 kW; a 0.4 kW cap allows one.
    capped = replace(EAST, power_cap_kw=0.4)
    net = ToyNetwork((capped,))
    jobs = [_job(0), JobSpec("j1", "a", "t", 1, 200.0, 0.0)]
    with pytest.raises(SimulationError, match=r"over its 0\.400 kW power cap"):
        run_simulation(scenario=net, jobs=jobs, policy=GreedyFifo(), throughput=THROUGHPUT, catalog=CATALOG)
    ok = run_simulation(scenario=ToyNetwork((replace(EAST, power_cap_kw=0.6),)), jobs=jobs, policy=GreedyFifo(), throughput=THROUGHPUT, catalog=CATALOG)
    assert all(r.finish_s == pytest.approx(100.0) for r in ok.records)


def test_snapshot_carries_the_energy_values_in_force() -> None:
    price = Series((0.0, 50.0), (0.3, 0.1), "two-step test price")
    energy = EnergySignals(0.0, {"east": SiteEnergy(price_usd_per_kwh=price)})
    pin = Pin("east")
    jobs = [_job(0), JobSpec("j9", "a", "t", 1, 200.0, 60.0)]
    result = run_simulation(scenario=_EnergyNet((EAST,), energy), jobs=jobs, policy=pin, throughput=THROUGHPUT, catalog=CATALOG)
    prices = {s.now_s: s.sites[0].price_usd_per_kwh for s in pin.seen}
    assert prices[0.0] == 0.3 and prices[60.0] == 0.1
    assert all(s.energy is energy for s in pin.seen)
    assert result.energy is energy


class _EnergyNet:
    def __init__(self, sites: tuple[Site, ...], energy: EnergySignals) -> None:
        self.sites, self.links, self.tenants, self.energy = sites, (), {}, energy
