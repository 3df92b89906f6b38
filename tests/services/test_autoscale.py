"""Replica autoscaling (cpnet.sched.autoscale) against hand-computed M/M/c cases.

Worked numbers (SLO 500 ms, quantile 0.99; q99(Wq) = ln(C / 0.01) / (c mu - lambda) when C > 0.01):

- T4, mu = 10/s (100 ms service), RTT 20 ms: slack for the wait 500 - 20 - 100 = 380 ms.
  lambda = 5:  c = 1: C = rho = 0.5, wait ln(50) / 5 = 782 ms (too long);
               c = 2: a = 0.5, B2 = 1/13, C = (1/13) / (1 - 0.25 x 12/13) = 0.1,
               wait ln(10) / 15 = 153.5 ms: 2 replicas, p99 20 + 153.5 + 100 = 273.5 ms.
  lambda = 10: c = 2: a = 1, B2 = 0.2, C = 0.2 / (1 - 0.5 x 0.8) = 1/3, wait ln(100/3) / 10 = 350.66 ms.
               fits RTT 20 (slack 380) but not RTT 50 (slack 350);
               c = 3: B3 = 0.0625, C = 0.0625 / (1 - 0.9375 / 3) = 1/11, wait ln(100/11) / 20 = 110.36 ms.
- H100, mu = 40/s (25 ms service), RTT 60 ms, lambda = 5: c = 1: C = 0.125, wait ln(12.5) / 35 = 72.16 ms,
  p99 60 + 72.16 + 25 = 157.16 ms: 1 replica.
"""

from __future__ import annotations

import math

import pytest

from cpnet.core.errors import CpnetError, UnknownNameError
from cpnet.core.service import Pool, RateSeries, Service, diurnal_rate
from cpnet.sched.autoscale import plan_replicas
from cpnet.sched.steering import steer

T4_NEAR = Pool("edge-1", "east", "T4", 8)
H100_FAR = Pool("cloud-1", "west", "H100", 8)
T4_CN = Pool("cn-1", "cn", "T4", 8)


def _service(**overrides: object) -> Service:
    fields: dict[str, object] = {
        "name": "chat",
        "accelerators": frozenset({"T4", "H100"}),
        "devices_per_replica": 1,
        "service_rate_rps": {"T4": 10.0, "H100": 40.0},
        "demand": {"east": RateSeries.constant(5.0)},
        "slo_p99_ms": 500.0,
        "min_replicas": 0,
    }
    fields.update(overrides)
    return Service(**fields)  # type: ignore[arg-type]


def test_one_pool_one_region() -> None:
    plan = plan_replicas(_service(), [T4_NEAR], {"east": {"edge-1": 20.0}}, now_s=0.0)
    assert plan.replicas == {T4_NEAR: 2}
    assert plan.assignment == {"east": T4_NEAR}
    assert plan.p99_ms["east"] == pytest.approx(20 + 1000 * math.log(10) / 15 + 100)
    assert plan.devices == 2 and plan.device_hours_per_hour == 2.0
    assert plan.unserved == {}


def test_fewer_device_hours_wins_when_both_pools_fit() -> None:
    # T4 near needs 2 replicas, H100 far needs 1: the H100 is chosen despite its RTT
    rtt = {"east": {"edge-1": 20.0, "cloud-1": 60.0}}
    plan = plan_replicas(_service(), [T4_NEAR, H100_FAR], rtt)
    assert plan.replicas == {H100_FAR: 1}
    assert plan.p99_ms["east"] == pytest.approx(60 + 1000 * math.log(12.5) / 35 + 25)


def test_equal_devices_tie_goes_to_cheaper_per_request_then_lower_rtt() -> None:
    # lambda = 1: one replica anywhere (T4: C = 0.1, wait ln(10)/9 = 256 ms <= 380)
    service = _service(demand={"east": RateSeries.constant(1.0)})
    rtt = {"east": {"edge-1": 20.0, "cloud-1": 60.0, "edge-2": 5.0}}
    assert plan_replicas(service, [T4_NEAR, H100_FAR], rtt).replicas == {H100_FAR: 1}
    t4_nearer = Pool("edge-2", "east", "T4", 8)
    only_t4 = _service(demand={"east": RateSeries.constant(1.0)}, accelerators=frozenset({"T4"}))
    assert plan_replicas(only_t4, [T4_NEAR, t4_nearer], rtt).replicas == {t4_nearer: 1}


def test_two_regions_share_a_pool_and_the_farthest_binds() -> None:
    pool = Pool("edge-1", "east", "T4", 8)
    both_near = _service(demand={"a": RateSeries.constant(5.0), "b": RateSeries.constant(5.0)}, accelerators=frozenset({"T4"}))
    plan = plan_replicas(both_near, [pool], {"a": {"edge-1": 20.0}, "b": {"edge-1": 20.0}})
    assert plan.replicas == {pool: 2}  # 10/s together on 2 replicas, not 2 + 2
    assert plan.load_rps == {pool: 10.0}
    wait_ms = 1000 * math.log(100 / 3) / 10
    assert plan.p99_ms == pytest.approx({"a": 20 + wait_ms + 100, "b": 20 + wait_ms + 100})
    # b at 50 ms leaves 350 ms for the wait: c = 2 (350.66 ms) is too slow, c = 3 it is
    plan = plan_replicas(both_near, [pool], {"a": {"edge-1": 20.0}, "b": {"edge-1": 50.0}})
    assert plan.replicas == {pool: 3}
    wait_ms = 1000 * math.log(100 / 11) / 20
    assert plan.p99_ms == pytest.approx({"a": 20 + wait_ms + 100, "b": 50 + wait_ms + 100})


def test_region_too_far_for_any_pool_is_reported() -> None:
    service = _service(demand={"east": RateSeries.constant(5.0), "moon": RateSeries.constant(1.0), "island": RateSeries.constant(1.0)})
    rtt = {"east": {"edge-1": 20.0}, "moon": {"edge-1": 450.0}}  # island: no path at all
    plan = plan_replicas(service, [T4_NEAR], rtt)
    assert plan.assignment == {"east": T4_NEAR}
    assert set(plan.unserved) == {"moon", "island"}
    assert "RTT 450 ms + service 100 ms > SLO 500 ms" in plan.unserved["moon"]
    assert "unreachable" in plan.unserved["island"]


def test_residency_keeps_replicas_in_region() -> None:
    rtt = {"east": {"edge-1": 5.0, "cn-1": 30.0}}
    free = _service(accelerators=frozenset({"T4"}))
    assert plan_replicas(free, [T4_NEAR, T4_CN], rtt).replicas == {T4_NEAR: 2}
    resident = _service(accelerators=frozenset({"T4"}), residency_region="cn")
    plan = plan_replicas(resident, [T4_NEAR, T4_CN], rtt)
    assert plan.replicas == {T4_CN: 2}
    assert plan.assignment == {"east": T4_CN}
    # no in-region pool reachable: reported, with the residency reason for the other pool
    plan = plan_replicas(resident, [T4_NEAR, T4_CN], {"east": {"edge-1": 5.0}})
    assert plan.replicas == {}
    assert "edge-1/T4: outside residency region cn" in plan.unserved["east"]
    assert "cn-1/T4: unreachable" in plan.unserved["east"]


@pytest.mark.parametrize(
    ("min_replicas", "max_replicas", "free", "rate_rps", "replicas", "served", "shortfall"),
    [
        (3, None, 8, 5.0, 3, True, 0),  # SLO needs 2, min lifts it to 3
        (0, 2, 8, 5.0, 2, True, 0),  # exactly at max
        (0, 1, 8, 5.0, 0, False, 0),  # SLO needs 2 > max 1: unserved
        (2, None, 8, 0.0, 2, True, 0),  # no traffic: min_replicas still run
        (0, None, 1, 5.0, 0, False, 0),  # needs 2, room for 1: unserved
        (3, None, 2, 0.0, 2, True, 1),  # min 3 but only 2 devices free
    ],
)
def test_min_max_and_free_devices(min_replicas: int, max_replicas: int | None, free: int, rate_rps: float, replicas: int, served: bool, shortfall: int) -> None:
    pool = Pool("edge-1", "east", "T4", free)
    service = _service(accelerators=frozenset({"T4"}), min_replicas=min_replicas, max_replicas=max_replicas)
    plan = plan_replicas(service, [pool], {"east": {"edge-1": 20.0}}, {"east": rate_rps})
    assert plan.total_replicas == replicas
    assert ("east" in plan.unserved) is (not served and rate_rps > 0)
    assert plan.min_shortfall == shortfall


def test_max_replicas_reason() -> None:
    service = _service(accelerators=frozenset({"T4"}), max_replicas=1)
    plan = plan_replicas(service, [T4_NEAR], {"east": {"edge-1": 20.0}})
    assert "2 replicas in all would pass max_replicas 1" in plan.unserved["east"]


def test_devices_per_replica_counts_whole_replicas() -> None:
    # 2 devices per replica, 3 free: room for 1 replica; lambda = 1 needs 1 (C = 0.1, wait 256 ms)
    pool = Pool("edge-1", "east", "T4", 3)
    service = _service(accelerators=frozenset({"T4"}), devices_per_replica=2, demand={"east": RateSeries.constant(1.0)})
    plan = plan_replicas(service, [pool], {"east": {"edge-1": 20.0}})
    assert plan.replicas == {pool: 1} and plan.devices == 2


def test_rho_target_adds_headroom() -> None:
    # lambda = 35 on one H100 (mu 40) at RTT 60, SLO 2000 ms: C = rho = 0.875, wait ln(87.5) / 5 = 894 ms
    # <= 2000 - 60 - 25, so the SLO alone takes 1 replica; rho 0.875 > 0.8 takes 2 at the default target
    service = _service(accelerators=frozenset({"H100"}), slo_p99_ms=2000.0)
    rtt = {"east": {"cloud-1": 60.0}}
    assert plan_replicas(service, [H100_FAR], rtt, {"east": 35.0}).replicas == {H100_FAR: 2}
    by_slo = plan_replicas(service, [H100_FAR], rtt, {"east": 35.0}, rho_target=1.0)
    assert by_slo.replicas == {H100_FAR: 1}
    assert by_slo.p99_ms["east"] == pytest.approx(60 + 1000 * math.log(87.5) / 5 + 25)


def test_forecast_rates_override_the_series_read_at_now() -> None:
    service = _service(demand={"east": RateSeries((0.0, 100.0), (1.0, 5.0))}, accelerators=frozenset({"T4"}))
    rtt = {"east": {"edge-1": 20.0}}
    assert plan_replicas(service, [T4_NEAR], rtt, now_s=0.0).replicas == {T4_NEAR: 1}
    assert plan_replicas(service, [T4_NEAR], rtt, now_s=100.0).replicas == {T4_NEAR: 2}
    assert plan_replicas(service, [T4_NEAR], rtt, {"east": 1.0}, now_s=100.0).replicas == {T4_NEAR: 1}
    with pytest.raises(UnknownNameError, match="'mars'"):
        plan_replicas(service, [T4_NEAR], rtt, {"mars": 1.0})


def test_rejects_bad_input() -> None:
    with pytest.raises(CpnetError, match="listed twice"):
        plan_replicas(_service(), [T4_NEAR, T4_NEAR], {})
    with pytest.raises(CpnetError, match="rate must be"):
        plan_replicas(_service(), [T4_NEAR], {}, {"east": -1.0})
    with pytest.raises(CpnetError, match="rho_target"):
        plan_replicas(_service(), [T4_NEAR], {}, rho_target=0.0)


def test_a_plan_steers_within_its_slo_over_a_day() -> None:
    # Two regions with diurnal load 8 h apart, two pools: plan each hour, steer, check every p99 <= SLO
    demand = {
        "east": RateSeries.sampled(lambda t: diurnal_rate(t, 20.0, 3.0, 20, utc_offset_h=8), 0.0, 86_400.0, 3600.0),
        "west": RateSeries.sampled(lambda t: diurnal_rate(t, 20.0, 3.0, 20, utc_offset_h=0), 0.0, 86_400.0, 3600.0),
    }
    service = _service(demand=demand, min_replicas=1)
    pools = [Pool("edge-1", "east", "T4", 16), Pool("cloud-1", "west", "H100", 16)]
    rtt = {"east": {"edge-1": 10.0, "cloud-1": 80.0}, "west": {"edge-1": 80.0, "cloud-1": 10.0}}
    for hour in range(24):
        plan = plan_replicas(service, pools, rtt, now_s=hour * 3600.0)
        assert plan.unserved == {}
        assert all(p99 <= 500.0 for p99 in plan.p99_ms.values())
        routed = steer(service.rates_at(hour * 3600.0), plan.replicas, rtt, service_rate_rps=service.service_rate_rps, slo_ms=500.0)
        assert routed.overflow_rps == {} and routed.unserved == {}
        assert all(p99 <= 500.0 + 1e-6 for p99 in routed.p99_ms.values())
