"""Metrics on hand-computed tiny cases."""

from __future__ import annotations

import pytest

from cpnet.core.model import Site, Tenant, Tier
from cpnet.sim.metrics import compute_metrics, jain_index, mean, percentile
from cpnet.sim.records import JobOutcome, JobRecord, SimulationResult, UtilizationSeries


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 99, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([3.0, 1.0, 2.0], 50, 2.0),  # unsorted input
        (list(range(1, 101)), 99, 99.01),  # rank 0.99 * 99 = 98.01 -> 99 + 0.01
        ([0.0, 10.0], 0, 0.0),
        ([0.0, 10.0], 100, 10.0),
    ],
)
def test_percentile_interpolates_linearly(values: list[float], q: float, expected: float | None) -> None:
    got = percentile(values, q)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ([1.0, 1.0, 1.0], 1.0),  # equal shares
        ([0.3, 0.3], 1.0),
        ([1.0, 0.0, 0.0, 0.0], 0.25),  # one gets everything: 1/n
        ([1.0, 2.0], 9 / 10),  # (1+2)^2 / (2 * (1+4))
        ([0.0, 0.0], 1.0),
        ([], None),
    ],
)
def test_jain_index(shares: list[float], expected: float | None) -> None:
    got = jain_index(shares)
    assert got == (None if expected is None else pytest.approx(expected))


def test_mean_of_nothing_is_none() -> None:
    assert mean([]) is None
    assert mean([1.0, 2.0]) == 1.5


def _result(records: tuple[JobRecord, ...], measure: tuple[int, int] | None = None) -> SimulationResult:
    east = Site("east", Tier.CLOUD, "r", 0, 0, {"V100": 2}, pue=1.5, price_usd_per_kwh=0.2, carbon_g_per_kwh=500)
    west = Site("west", Tier.CLOUD, "r", 0, 0, {"K80": 2}, pue=1.0, price_usd_per_kwh=0.05, carbon_g_per_kwh=100)
    util = {
        # V100: 2 busy on [0, 100), 1 busy on [100, 200), 0 after
        "V100": UtilizationSeries("V100", 2, (0.0, 100.0, 200.0), (2, 1, 0)),
        "K80": UtilizationSeries("K80", 2, (50.0, 150.0), (1, 0)),
    }
    return SimulationResult(
        policy="p", seed=0, round_s=None, records=records, start_s=0.0, end_s=400.0, utilization=util,
        sites=(east, west), tenants={"a": Tenant("a", 1.0), "b": Tenant("b", 2.0)},
        tdp_w={"V100": 300.0, "K80": None}, measure=measure,
    )  # fmt: skip


RECORDS = (
    # a: 2 x V100 at east for [0, 100): JCT 100, queue 0
    JobRecord(0, "j0", "a", "t", 2, 0.0, JobOutcome.FINISHED, 0.0, 100.0, device_s={("east", "V100"): 200.0}),
    # b: arrives 50, 1 x V100 [100, 200) + 1 x K80 [50, 150) would be two jobs; keep one pool each
    JobRecord(1, "j1", "b", "t", 1, 50.0, JobOutcome.FINISHED, 100.0, 200.0, device_s={("east", "V100"): 100.0}),
    JobRecord(2, "j2", "b", "t", 1, 50.0, JobOutcome.FINISHED, 50.0, 150.0, device_s={("west", "K80"): 100.0}),
    JobRecord(3, "j3", "a", "t", 4, 60.0, JobOutcome.INFEASIBLE, reason="too big"),
)


def test_compute_metrics_hand_computed() -> None:
    m = compute_metrics(_result(RECORDS))
    assert (m.jobs, m.jobs_finished, m.jobs_infeasible, m.jobs_unfinished) == (4, 3, 1, 0)
    assert m.avg_jct_s == pytest.approx((100 + 150 + 100) / 3)
    assert m.median_jct_s == 100.0
    assert m.avg_queue_s == pytest.approx((0 + 50 + 0) / 3)
    assert m.makespan_s == 200.0  # first arrival 0, last finish 200
    assert m.horizon_s == 200.0
    # V100 busy 2*100 + 1*100 = 300 of 2*200; K80 busy 1*100 of 2*200
    assert m.utilization_by_model == {"K80": pytest.approx(0.25), "V100": pytest.approx(0.75)}
    assert m.utilization == pytest.approx(400 / 800)
    # only V100 has a TDP: 300 device-s * 300 W * PUE 1.5 = 135,000 J
    assert m.energy_kwh == pytest.approx(135_000 / 3.6e6)
    assert m.cost_usd == pytest.approx(135_000 / 3.6e6 * 0.2)
    assert m.carbon_kg == pytest.approx(135_000 / 3.6e6 * 500 / 1000)
    assert m.energy_missing_models == ("K80",)
    # tenants: a got 200 of 2*100 -> 1.0; b got 200 of 1*150 + 1*100 = 250 -> 0.8, / weight 2 -> 0.4
    assert m.jain_over == "tenants"
    assert m.jain_index == pytest.approx((1.0 + 0.4) ** 2 / (2 * (1.0 + 0.16)))


def test_measure_window_restricts_job_metrics() -> None:
    m = compute_metrics(_result(RECORDS, measure=(1, 3)))
    assert m.jobs == 2
    assert m.avg_jct_s == pytest.approx(125.0)
    assert m.jain_over == "jobs"  # both measured jobs belong to tenant b
    # j1 held 1 device for 100 of its 150 s in the system, j2 for all 100 s
    assert m.jain_index == pytest.approx(jain_index([100 / 150, 1.0]))


def test_nothing_finished_gives_none_not_zero() -> None:
    rec = (JobRecord(0, "j0", "a", "t", 1, 0.0, JobOutcome.UNFINISHED),)
    m = compute_metrics(_result(rec))
    assert m.avg_jct_s is None and m.p99_jct_s is None and m.makespan_s is None
    assert m.jobs_unfinished == 1
