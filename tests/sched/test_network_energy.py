"""Network, energy and power plugins on literal snapshots: paths, the power-cap and data-reachable
filters, the data-transfer / carbon / power-headroom scores, the power room and the deferral gate."""

import math
from dataclasses import replace

import pytest

from cpnet.core.energy import EnergySignals, Series, SiteEnergy
from cpnet.core.model import Accelerator, Link
from cpnet.core.paths import Paths
from cpnet.core.snapshot import Placement
from cpnet.sched.deferral import DeferralGate
from cpnet.sched.feasibility import NetworkIndex
from cpnet.sched.filters import DataReachable, PowerCap
from cpnet.sched.framework import SCHEDULABLE, UnschedulableAndUnresolvable
from cpnet.sched.power import PowerRoom
from cpnet.sched.profile import weighted_profile
from cpnet.sched.scores import Carbon, DataTransfer, PowerHeadroom
from sched_builders import job, site, snapshot, view

CATALOG = {"V100": Accelerator("V100", "NVIDIA", None, None, None, 300.0, "test"), "K80": Accelerator("K80", "NVIDIA", None, None, None, None, "test")}
S1, S2, S3, ALONE = site("s1", V100=4), site("s2", V100=4), site("s3", V100=4), site("alone", V100=4)
LINKS = [Link("s1", "s2", 10.0, 100.0), Link("s2", "s3", 5.0, 10.0)]
RATES = {("a", "V100"): 1.0}


def net(*sites, links=LINKS, catalog=CATALOG):
    return NetworkIndex.build(replace(snapshot(list(sites), [], RATES, links=links), catalog=catalog))


NET = net(S1, S2, S3, ALONE)


@pytest.mark.parametrize(
    ("a", "b", "gb", "want_s"),
    [
        ("s1", "s1", 100.0, 0.0),  # no move
        (None, "s2", 100.0, 0.0),  # no data site
        ("s1", "s2", 0.0, 0.0),  # nothing to move
        ("s1", "s2", 75.0, 75 * 8 / 100 + 0.010),  # one 100 Gbps link, 10 ms RTT
        ("s1", "s3", 75.0, 75 * 8 / 10 + 0.015),  # bottleneck 10 Gbps on s1-s2-s3, 15 ms
        ("s1", "alone", 1.0, math.inf),  # unreachable
    ],
)
def test_paths_transfer_time(a, b, gb, want_s):
    paths = Paths.build(["s1", "s2", "s3", "alone"], LINKS)
    assert paths.transfer_s(gb, a, b) == pytest.approx(want_s)


def test_bottleneck_follows_the_lowest_latency_path():
    # s1-s3 direct is slower (50 ms) but fat; via s2 it is 15 ms with a 10 Gbps hop: the path is the fast one.
    paths = Paths.build(["s1", "s2", "s3"], [*LINKS, Link("s1", "s3", 50.0, 400.0)])
    assert paths.latency("s1", "s3") == 15.0 and paths.bottleneck_gbps("s1", "s3") == 10.0


# idle draw of 4 x V100 at PUE 1: 4 x 0.15 x 0.3 kW = 0.18 kW; a busy pair adds 2 x 0.85 x 0.3 = 0.51 kW
@pytest.mark.parametrize(
    ("cap", "n", "ok"),
    [(None, 4, True), (0.69, 2, True), (0.68, 2, False), (1.20, 4, True), (1.19, 4, False)],
)
def test_power_cap_filter(cap, n, ok):
    s = replace(S1, power_cap_kw=cap)
    st = PowerCap().filter(job("j", n=n), s, "V100", net(s))
    assert (st is SCHEDULABLE) == ok
    if not ok:
        assert isinstance(st, UnschedulableAndUnresolvable) and "cap" in st.reason


@pytest.mark.parametrize(
    ("spec", "at", "ok"),
    [
        (job("j", data_site="s1", data_gb=10.0), S3, True),
        (job("j", data_site="s1", data_gb=10.0), ALONE, False),
        (job("j", data_site="s1", data_gb=0.0), ALONE, True),  # no data to move
        (job("j"), ALONE, True),
    ],
)
def test_data_reachable_filter(spec, at, ok):
    st = DataReachable().filter(spec, at, "V100", NET)
    assert (st is SCHEDULABLE) == ok


@pytest.mark.parametrize(
    ("score", "spec", "at", "want"),
    [
        (DataTransfer(), job("j", data_site="s1", data_gb=75.0), S1, 1.0),
        (DataTransfer(), job("j", data_site="s1", data_gb=75.0), S3, 1 / (1 + (60.015) / 600)),
        (DataTransfer(), job("j", data_site="s1", data_gb=75.0), ALONE, 0.0),
        (DataTransfer(), job("j"), ALONE, 1.0),
        (Carbon(), job("j"), replace(S1, carbon_g_per_kwh=500.0), 0.5),
        (Carbon(), job("j"), replace(S1, carbon_g_per_kwh=250.0, pue=2.0), 0.5),
        (Carbon(), job("j"), replace(S1, carbon_g_per_kwh=0.0), 1.0),
        (PowerHeadroom(), job("j"), S1, 1.0),  # no cap
        (PowerHeadroom(), job("j"), replace(S1, power_cap_kw=0.18 + 0.51), 0.5),  # half the devices
        (PowerHeadroom(), job("j"), replace(S1, power_cap_kw=5.0), 1.0),
        (PowerHeadroom(), job("j"), replace(S1, power_cap_kw=0.1), 0.0),  # below idle
    ],
)
def test_network_scores(score, spec, at, want):
    got = score.score(spec, at, "V100", {"V100": 1.0}, net(at, S1, S2, S3, ALONE) if at.power_cap_kw else NET)
    assert 0.0 <= got <= 1.0 and got == pytest.approx(want)


def test_power_room_books_running_jobs_and_new_gangs():
    s = replace(S1, power_cap_kw=0.18 + 0.51 + 0.2)  # room for one busy pair and a bit
    running = view(job("r", n=2), ("s1", "V100"))
    snap = replace(snapshot([s], [running], RATES), catalog=CATALOG)
    live = PowerRoom.for_running(snap)
    assert not live.fits("s1", "V100", 2) and live.fits("s1", "V100", 0)
    assert live.fits("s2", "V100", 100)  # uncapped site
    fresh = PowerRoom.for_round(snap)  # a round reassigns every device
    assert fresh.fits("s1", "V100", 2)
    fresh.take(Placement("x", "s1", "V100", 2))
    assert not fresh.fits("s1", "V100", 1)


def test_weighted_profile_trades_transfer_against_carbon():
    dirty, clean_far = replace(S1, carbon_g_per_kwh=900.0), replace(S3, carbon_g_per_kwh=50.0)
    sites = [dirty, S2, clean_far]
    spec = job("j", data_site="s1", data_gb=75.0)
    for weights, first in [
        (dict(transfer=1.0, latency=0.0, cost=0.0, carbon=0.0, power=0.0), "s1"),
        (dict(transfer=1.0, latency=0.0, cost=0.0, carbon=3.0, power=0.0), "s3"),
    ]:
        prof = weighted_profile("t", **weights)
        idx = NetworkIndex.build(replace(snapshot(sites, [], RATES, links=LINKS), catalog=CATALOG), prof)
        assert idx.pools_for(spec).pools[0][0] == first


def test_weighted_profile_rejects_negative_weights():
    with pytest.raises(ValueError, match="must be >= 0"):
        weighted_profile("t", transfer=-1.0, latency=0.0, cost=0.0, carbon=0.0, power=0.0)


# s1's carbon: 500 g/kWh for the first 2 h of each day, then 100 (a daily cycle).
DAILY = Series((0.0, 7200.0), (500.0, 100.0), "test daily", period_s=86400.0)
ENERGY = EnergySignals(0.0, {"s1": SiteEnergy(carbon_g_per_kwh=DAILY)})


@pytest.mark.parametrize(
    ("deadline_s", "steps", "started", "energy", "held"),
    [
        (86400.0, 3600.0, False, ENERGY, True),  # 1 h job, a day of slack: wait for the clean hours
        (3600.0 * 1.1 + 3600.0 + 100.0, 3600.0, False, ENERGY, False),  # no slack beyond the safety margin
        (None, 3600.0, False, ENERGY, False),  # not deferrable
        (86400.0, 3600.0, True, ENERGY, False),  # already ran: never held
        (86400.0, 3600.0, False, None, False),  # no forecast
    ],
)
def test_deferral_gate(deadline_s, steps, started, energy, held):
    spec = job("j", steps=steps, deadline_s=deadline_s)
    jv = view(spec, attained=10.0 if started else 0.0)
    snap = replace(snapshot([S1], [jv], RATES), energy=energy)
    gate = DeferralGate("carbon")
    assert (spec.id in gate.held(snap, NetworkIndex.build(snap))) == held


def test_series_lookup_is_a_cyclic_step_function():
    assert [DAILY.at(t) for t in (0.0, 7199.0, 7200.0, 86400.0 + 10.0)] == [500.0, 500.0, 100.0, 500.0]
    assert DAILY.next_change_s(10.0) == 7200.0 and DAILY.next_change_s(7300.0) == 86400.0
    assert DAILY.mean(0.0, 14400.0) == pytest.approx(300.0)
    assert ENERGY.site_at(S1, 8000.0).carbon_g_per_kwh == 100.0 and ENERGY.site_at(S2, 8000.0) is S2
