"""Request steering (cpnet.sched.steering): lowest RTT first, spill at rho_target or the SLO.

Hand numbers: a pool of c = 1 replica at mu = 10/s is an M/M/1 queue, limit 0.8 x 10 = 8/s at the
default rho_target. Its p99 at RTT 10 ms and load L is 10 + 1000 ln(100 L / 10) / (10 - L) + 100 ms:
L = 2: 10 + 374.5 + 100 = 484.5 ms; L = 2.2: 10 + 396.3 + 100 = 506.3 ms; L = 5: 892 ms.
So under a 500 ms SLO that pool takes between 2 and 2.2 requests/s before spilling.
"""

from __future__ import annotations

import math

import pytest

from cpnet.core.errors import CpnetError
from cpnet.core.latency import end_to_end_quantile_ms
from cpnet.core.service import Pool
from cpnet.sched.steering import steer

NEAR = Pool("edge-1", "east", "T4", 4)
FAR = Pool("cloud-1", "west", "T4", 16)
MU = {"T4": 10.0}
RTT = {"east": {"edge-1": 10.0, "cloud-1": 50.0}}


def _shares(rate_rps: float, replicas: dict[Pool, int], slo_ms: float | None = None) -> list[tuple[Pool, float]]:
    return steer({"east": rate_rps}, replicas, RTT, service_rate_rps=MU, slo_ms=slo_ms).shares["east"]


@pytest.mark.parametrize(
    ("rate_rps", "expected"),
    [
        (6.0, [(NEAR, 1.0)]),  # fits the near pool (rho 0.6)
        (8.0, [(NEAR, 1.0)]),  # exactly at rho_target
        (12.0, [(NEAR, 8 / 12), (FAR, 4 / 12)]),  # near full at 8/s, the rest spills
        (0.0, [(NEAR, 1.0)]),  # no traffic: still a path, to the nearest
    ],
)
def test_near_pool_first_then_spill(rate_rps: float, expected: list[tuple[Pool, float]]) -> None:
    got = _shares(rate_rps, {NEAR: 1, FAR: 1})
    assert [p for p, _ in got] == [p for p, _ in expected]
    assert [s for _, s in got] == pytest.approx([s for _, s in expected])


@pytest.mark.parametrize("rate_rps", [0.5, 3.0, 8.0, 9.0, 15.9, 16.0, 30.0])
def test_shares_sum_to_one(rate_rps: float) -> None:
    got = _shares(rate_rps, {NEAR: 1, FAR: 1})
    assert sum(s for _, s in got) == pytest.approx(1.0)
    assert all(s > 0 for _, s in got)


def test_overflow_is_spread_by_capacity_and_reported() -> None:
    # 20/s: near 8, far 8 (both at rho 0.8), 4 left: split 2 + 2 by capacity (1 x 10 each)
    result = steer({"east": 20.0}, {NEAR: 1, FAR: 1}, RTT, service_rate_rps=MU)
    assert result.overflow_rps == pytest.approx({"east": 4.0})
    assert result.shares["east"] == [(NEAR, pytest.approx(0.5)), (FAR, pytest.approx(0.5))]
    assert result.load_rps == pytest.approx({NEAR: 10.0, FAR: 10.0})
    assert math.isinf(result.p99_ms["east"])  # rho = 1: unstable


def test_spills_when_the_p99_would_pass_the_slo() -> None:
    # rho 0.5 at 5/s is below the target, but the near pool's p99 would be 892 ms > 500
    result = steer({"east": 5.0}, {NEAR: 1, FAR: 3}, RTT, service_rate_rps=MU, slo_ms=500.0)
    (near, near_share), (far, far_share) = result.shares["east"]
    assert (near, far) == (NEAR, FAR)
    near_load = near_share * 5.0
    assert 2.0 < near_load < 2.2
    assert end_to_end_quantile_ms(near_load, 10.0, 1, 10.0) == pytest.approx(500.0, abs=1e-6)
    assert near_share + far_share == pytest.approx(1.0)
    assert result.overflow_rps == {}
    assert result.p99_ms["east"] <= 500.0 + 1e-6


def test_nearest_region_claims_a_pool_first() -> None:
    # a is 5 ms from the near pool, b 10 ms: a takes 6/s of its 8, b gets 2 there and 2 at the far pool
    rtt = {"b": {"edge-1": 10.0, "cloud-1": 40.0}, "a": {"edge-1": 5.0}}
    result = steer({"b": 4.0, "a": 6.0}, {NEAR: 1, FAR: 1}, rtt, service_rate_rps=MU)
    assert result.shares["a"] == [(NEAR, 1.0)]
    assert result.shares["b"] == [(NEAR, pytest.approx(0.5)), (FAR, pytest.approx(0.5))]
    assert result.load_rps == pytest.approx({NEAR: 8.0, FAR: 2.0})


def test_each_region_to_its_own_near_pool() -> None:
    rtt = {"east": {"edge-1": 10.0, "cloud-1": 50.0}, "west": {"edge-1": 50.0, "cloud-1": 10.0}}
    result = steer({"east": 4.0, "west": 4.0}, {NEAR: 1, FAR: 1}, rtt, service_rate_rps=MU)
    assert result.shares == {"east": [(NEAR, 1.0)], "west": [(FAR, 1.0)]}
    # M/M/1 at 4/s: C = 0.4, wait ln(40) / 6 s
    assert result.p99_ms["east"] == pytest.approx(10 + 1000 * math.log(40) / 6 + 100)


@pytest.mark.parametrize(
    ("rtt", "replicas", "slo_ms", "reason"),
    [
        ({}, {NEAR: 1}, None, "no pool is reachable"),
        ({"east": {"edge-1": 450.0}}, {NEAR: 1}, 500.0, "exceeds the SLO of 500 ms"),
        ({"east": {"edge-1": 10.0}}, {NEAR: 0}, None, "no pool has replicas"),
    ],
)
def test_region_without_a_reachable_pool_is_reported(rtt: dict[str, dict[str, float]], replicas: dict[Pool, int], slo_ms: float | None, reason: str) -> None:
    result = steer({"east": 3.0}, replicas, rtt, service_rate_rps=MU, slo_ms=slo_ms)
    assert "east" not in result.shares
    assert reason in result.unserved["east"]


def test_rejects_bad_input() -> None:
    with pytest.raises(CpnetError, match="rho_target"):
        steer({"east": 1.0}, {NEAR: 1}, RTT, service_rate_rps=MU, rho_target=1.5)
    with pytest.raises(CpnetError, match="no service rate for model 'T4'"):
        steer({"east": 1.0}, {NEAR: 1}, RTT, service_rate_rps={"H100": 40.0})
    with pytest.raises(CpnetError, match="rate must be"):
        steer({"east": -1.0}, {NEAR: 1}, RTT, service_rate_rps=MU)
