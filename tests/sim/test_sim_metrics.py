"""Metrics on hand-computed tiny cases."""

from __future__ import annotations

import json
import math

import pytest

from cpnet.core.energy import EnergySignals, Series, SiteEnergy
from cpnet.core.model import Site, Tenant, Tier
from cpnet.core.power import IDLE_FRACTION
from cpnet.scenario.distance import great_circle_km
from cpnet.sim.metrics import Metrics, compute_metrics, jain_index, job_energy, mean, missed_deadline, percentile
from cpnet.sim.records import JobOutcome, JobRecord, PlacementChange, RunInterval, SimulationResult, UtilizationSeries


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


# --- run intervals, time-varying price and carbon, breakdowns -------------------------------------

EPOCH_S = 1_000_000.0  # Unix time of sim t = 0: the series below are in Unix time
BJ = Site("bj", Tier.CLOUD, "north", 39.9, 116.4, {"H100": 4}, pue=1.2, price_usd_per_kwh=0.10, carbon_g_per_kwh=600)
GZ = Site("gz", Tier.CLOUD, "south", 23.1, 113.3, {"H100": 2}, pue=1.5, price_usd_per_kwh=0.05, carbon_g_per_kwh=300)
EDGE = Site("edge", Tier.EDGE, "north", 40.0, 116.0, {"T4": 2}, pue=1.0, price_usd_per_kwh=0.20, carbon_g_per_kwh=800)
TDP_W = {"H100": 700.0, "T4": 70.0}
# bj: price 0.10 until sim 3600 s, 0.30 after; carbon 600 until sim 2700 s, 200 after. gz, edge: static.
SIGNALS = EnergySignals(
    epoch_s=EPOCH_S,
    sites={
        "bj": SiteEnergy(
            price_usd_per_kwh=Series((EPOCH_S, EPOCH_S + 3600), (0.10, 0.30), "bj price"),
            carbon_g_per_kwh=Series((EPOCH_S, EPOCH_S + 2700), (600.0, 200.0), "bj carbon"),
        )
    },
)


def _net_result(
    records: tuple[JobRecord, ...],
    energy: EnergySignals | None = SIGNALS,
    util: dict[str, UtilizationSeries] | None = None,
    end_s: float = 20_000.0,
) -> SimulationResult:
    return SimulationResult(
        policy="p", seed=0, round_s=None, records=records, start_s=0.0, end_s=end_s, utilization=util or {},
        sites=(BJ, GZ, EDGE), tenants={"a": Tenant("a")}, tdp_w=TDP_W, energy=energy,
    )  # fmt: skip


def _job(i: int, intervals: tuple[RunInterval, ...], arrival_s: float = 0.0, finish_s: float | None = None, **kw: object) -> JobRecord:
    end = finish_s if finish_s is not None else max((iv.end_s for iv in intervals), default=arrival_s)
    return JobRecord(
        i, f"j{i}", "a", "t", intervals[0].num_devices if intervals else 1, arrival_s, JobOutcome.FINISHED,
        intervals[0].start_s if intervals else arrival_s, end, intervals=intervals, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


KWH_PER_S_2H100_BJ = 2 * 700.0 * 1.2 / 3.6e6  # energy rate of 2 x H100 at bj, kWh per second


@pytest.mark.parametrize(
    ("interval", "energy", "cost_usd", "carbon_kg"),
    [
        # spans the price change at 3600 and the carbon change at 2700:
        # cost = rate x (1800 s x 0.10 + 1800 s x 0.30); carbon = rate x (900 s x 600 + 2700 s x 200) / 1000
        (RunInterval(1800.0, 5400.0, "bj", "H100", 2), SIGNALS, KWH_PER_S_2H100_BJ * 720.0, KWH_PER_S_2H100_BJ * 1080.0),
        # wholly after both changes
        (RunInterval(4000.0, 5000.0, "bj", "H100", 2), SIGNALS, KWH_PER_S_2H100_BJ * 1000 * 0.30, KWH_PER_S_2H100_BJ * 1000 * 0.2),
        # no signals: the Site's static values
        (RunInterval(1800.0, 5400.0, "bj", "H100", 2), None, KWH_PER_S_2H100_BJ * 3600 * 0.10, KWH_PER_S_2H100_BJ * 3600 * 0.6),
        # a site without series keeps its static values even when the run has signals
        (RunInterval(0.0, 3600.0, "gz", "H100", 1), SIGNALS, 700 * 1.5 / 1000 * 0.05, 700 * 1.5 / 1000 * 0.3),
    ],
)
def test_interval_cost_and_carbon_follow_time_varying_signals(interval: RunInterval, energy: EnergySignals | None, cost_usd: float, carbon_kg: float) -> None:
    rec = _job(0, (interval,), arrival_s=interval.start_s)
    m = compute_metrics(_net_result((rec,), energy=energy))
    site = {"bj": BJ, "gz": GZ}[interval.site]
    kwh = interval.num_devices * 700.0 * site.pue * (interval.end_s - interval.start_s) / 3.6e6
    assert m.energy_kwh == pytest.approx(kwh)
    assert m.cost_usd == pytest.approx(cost_usd)
    assert m.carbon_kg == pytest.approx(carbon_kg)
    assert m.by_site[interval.site].cost_usd == pytest.approx(cost_usd)
    assert m.price_carbon_from == ("static" if energy is None else "series")
    e = job_energy(_net_result((rec,), energy=energy), rec)
    assert (e.energy_kwh, e.cost_usd, e.carbon_kg) == pytest.approx((kwh, cost_usd, carbon_kg))


def test_record_without_intervals_falls_back_to_device_s_at_static_values() -> None:
    rec = JobRecord(0, "j0", "a", "t", 2, 0.0, JobOutcome.FINISHED, 1800.0, 5400.0, device_s={("bj", "H100"): 7200.0})
    m = compute_metrics(_net_result((rec,)))
    kwh = 7200.0 * 700 * 1.2 / 3.6e6
    assert (m.energy_kwh, m.cost_usd, m.carbon_kg) == pytest.approx((kwh, kwh * 0.10, kwh * 0.6))
    assert m.by_site["bj"].device_h == pytest.approx(2.0)


def test_idle_energy_per_site_is_inventory_minus_busy_over_the_horizon() -> None:
    # horizon [0, 7200] (first arrival, last finish); j0 holds 2 of bj's 4 H100 on [0, 3600)
    rec = _job(0, (RunInterval(0.0, 3600.0, "bj", "H100", 2),), finish_s=7200.0)
    m = compute_metrics(_net_result((rec,)))
    assert m.horizon_s == 7200.0
    idle_rate = {"bj": IDLE_FRACTION * 700 * 1.2 / 3.6e6, "gz": IDLE_FRACTION * 700 * 1.5 / 3.6e6, "edge": IDLE_FRACTION * 70 / 3.6e6}
    bj_idle_dev_s = 4 * 7200 - 2 * 3600
    assert m.by_site["bj"].idle_energy_kwh == pytest.approx(bj_idle_dev_s * idle_rate["bj"])
    assert m.by_site["gz"].idle_energy_kwh == pytest.approx(2 * 7200 * idle_rate["gz"])
    assert m.by_site["edge"].idle_energy_kwh == pytest.approx(2 * 7200 * idle_rate["edge"])
    # bj's idle devices: 2 on [0, 3600) at 0.10 USD/kWh, 4 on [3600, 7200) at 0.30
    assert m.by_site["bj"].idle_cost_usd == pytest.approx(idle_rate["bj"] * (2 * 3600 * 0.10 + 4 * 3600 * 0.30))
    # carbon: 2 idle on [0, 2700) at 600, 2 on [2700, 3600) and 4 on [3600, 7200) at 200
    assert m.by_site["bj"].idle_carbon_kg == pytest.approx(idle_rate["bj"] * (2 * 2700 * 600 + (2 * 900 + 4 * 3600) * 200) / 1000)
    assert m.idle_energy_kwh == pytest.approx(sum(b.idle_energy_kwh for b in m.by_site.values()))
    assert m.energy_kwh == pytest.approx(2 * 3600 * 700 * 1.2 / 3.6e6)  # idle draw is not the jobs'


def _mixed_records() -> tuple[JobRecord, ...]:
    return (
        # data at bj, runs at bj: no move, not outside its region
        _job(0, (RunInterval(1800.0, 5400.0, "bj", "H100", 2),), arrival_s=1000.0, data_site="bj", transfer_s=60.0),
        # data at bj; runs at gz (south), then moves to edge (north): 10 GB copied to each
        _job(
            1,
            (RunInterval(100.0, 2000.0, "gz", "H100", 2), RunInterval(2500.0, 4000.0, "edge", "T4", 2)),
            placements=(PlacementChange(100.0, "gz", "H100", 2), PlacementChange(2500.0, "edge", "T4", 2)),
            data_site="bj",
            data_moved_gb=20.0,
            data_moved_gb_km=10 * great_circle_km(39.9, 116.4, 23.1, 113.3) + 10 * great_circle_km(39.9, 116.4, 40.0, 116.0),
            transfer_s=300.0,
        ),
        # data at gz (south), runs at edge (north) and bj (north): outside in both
        _job(2, (RunInterval(0.0, 600.0, "edge", "T4", 1), RunInterval(700.0, 900.0, "bj", "H100", 1)), data_site="gz", data_moved_gb=8.0),
        # never started
        JobRecord(3, "j3", "a", "t", 8, 50.0, JobOutcome.INFEASIBLE, reason="too big", data_site="bj"),
    )


def test_breakdowns_sum_to_totals() -> None:
    m = compute_metrics(_net_result(_mixed_records()))
    for groups in (m.by_site, m.by_tier, m.by_region):
        for name, total in [("energy_kwh", m.energy_kwh), ("cost_usd", m.cost_usd), ("carbon_kg", m.carbon_kg),
                            ("idle_energy_kwh", m.idle_energy_kwh), ("idle_cost_usd", m.idle_cost_usd),
                            ("idle_carbon_kg", m.idle_carbon_kg), ("data_moved_gb", m.data_moved_gb),
                            ("data_moved_gb_km", m.data_moved_gb_km), ("device_h", m.device_s / 3600)]:  # fmt: skip
            assert math.fsum(getattr(b, name) for b in groups.values()) == pytest.approx(total), name
    assert set(m.by_site) == {"bj", "gz", "edge"}
    assert set(m.by_tier) == {"cloud", "edge"}
    assert set(m.by_region) == {"north", "south"}
    assert m.by_tier["cloud"].energy_kwh == pytest.approx(m.by_site["bj"].energy_kwh + m.by_site["gz"].energy_kwh)
    assert m.device_s == pytest.approx(2 * 3600 + 2 * 1900 + 2 * 1500 + 600 + 200)


def test_data_moved_and_outside_region() -> None:
    m = compute_metrics(_net_result(_mixed_records()))
    km_gz, km_edge = great_circle_km(39.9, 116.4, 23.1, 113.3), great_circle_km(39.9, 116.4, 40.0, 116.0)
    assert m.data_moved_gb == 28.0
    assert m.data_moved_gb_km == pytest.approx(10 * km_gz + 10 * km_edge)  # j2 reported no GB-km
    assert m.by_site["gz"].data_moved_gb == pytest.approx(10.0)
    assert m.by_site["edge"].data_moved_gb == pytest.approx(10.0 + 4.0)
    assert m.by_site["bj"].data_moved_gb == pytest.approx(4.0)
    # GB-km split by distance from the data site: j1's 10 GB each way
    assert m.by_site["gz"].data_moved_gb_km == pytest.approx(10 * km_gz)
    assert m.by_site["edge"].data_moved_gb_km == pytest.approx(10 * km_edge)
    # j1 (ran at gz, data in north) and j2 (ran in north, data in south)
    assert m.jobs_outside_data_region == 2
    assert {s: b.jobs_outside_data_region for s, b in m.by_site.items()} == {"bj": 1, "gz": 1, "edge": 1}
    assert {r: b.jobs_outside_data_region for r, b in m.by_region.items()} == {"north": 1, "south": 1}
    assert {s: b.jobs_started for s, b in m.by_site.items()} == {"bj": 2, "gz": 1, "edge": 2}
    assert m.by_tier["cloud"].jobs_started == 3  # j0, j1, j2 each once
    assert m.transfer_s == 360.0
    assert m.avg_transfer_s == pytest.approx(120.0)  # over the three jobs that started


def test_to_dict_is_json_with_breakdowns() -> None:
    d = compute_metrics(_net_result(_mixed_records())).to_dict()
    doc = json.loads(json.dumps(d, allow_nan=False))
    assert list(doc["by_site"]) == ["bj", "edge", "gz"]
    assert doc["by_tier"]["edge"]["jobs_started"] == 2
    assert set(doc["by_region"]["south"]) >= {"device_h", "energy_kwh", "cost_usd", "carbon_kg", "data_moved_gb", "jobs_outside_data_region"}
    assert {"utilization_busy_window", "idle_energy_kwh", "data_moved_gb_km", "deadline_misses", "transfer_s"} <= set(doc)


def test_busy_window_utilization_hand_computed() -> None:
    util = {
        # H100 (4): all busy on [0, 300), idle after; T4 (2): 1 busy on [50, 150)
        "H100": UtilizationSeries("H100", 4, (0.0, 300.0), (4, 0)),
        "T4": UtilizationSeries("T4", 2, (0.0, 50.0, 150.0), (0, 1, 0)),
    }
    recs = (
        _job(0, (RunInterval(0.0, 300.0, "bj", "H100", 4),), arrival_s=0.0),
        _job(1, (RunInterval(50.0, 150.0, "edge", "T4", 1),), arrival_s=60.0),
        _job(2, (), arrival_s=100.0, finish_s=400.0),  # last arrival 100, last finish 400
    )
    m = compute_metrics(_net_result(recs, util=util, end_s=400.0))
    assert m.busy_window_s == 100.0
    assert m.utilization_busy_window == pytest.approx((4 * 100 + 1 * 50) / (6 * 100))
    assert m.utilization == pytest.approx((4 * 300 + 1 * 100) / (6 * 400))  # whole-run definition unchanged


def test_busy_window_is_none_when_all_jobs_arrive_at_once() -> None:
    util = {"H100": UtilizationSeries("H100", 4, (0.0, 300.0), (4, 0))}
    recs = (_job(0, (RunInterval(0.0, 300.0, "bj", "H100", 4),)), _job(1, (RunInterval(0.0, 300.0, "bj", "H100", 4),)))
    m = compute_metrics(_net_result(recs, util=util, end_s=300.0))
    assert (m.busy_window_s, m.utilization_busy_window) == (0.0, None)
    assert m.utilization == pytest.approx(1.0)


def _deadline_job(i: int, outcome: JobOutcome, finish_s: float | None, deadline_s: float | None) -> JobRecord:
    return JobRecord(i, f"j{i}", "a", "t", 1, 0.0, outcome, None if outcome is JobOutcome.INFEASIBLE else 0.0, finish_s, deadline_s=deadline_s)


DEADLINE_CASES = [
    (JobOutcome.FINISHED, 100.0, 150.0, False),  # in time
    (JobOutcome.FINISHED, 150.0, 150.0, False),  # exactly at the deadline
    (JobOutcome.FINISHED, 200.0, 150.0, True),  # late
    (JobOutcome.UNFINISHED, None, 300.0, True),  # deadline passed before the run ended (400)
    (JobOutcome.UNFINISHED, None, 500.0, False),  # deadline after the run's end: not known to be missed
    (JobOutcome.INFEASIBLE, None, 100.0, False),  # never could run: counted as infeasible, not as a miss
    (JobOutcome.FINISHED, 1000.0, None, False),  # no deadline
]


@pytest.mark.parametrize(("outcome", "finish_s", "deadline_s", "missed"), DEADLINE_CASES)
def test_missed_deadline(outcome: JobOutcome, finish_s: float | None, deadline_s: float | None, missed: bool) -> None:
    assert missed_deadline(_deadline_job(0, outcome, finish_s, deadline_s), run_end_s=400.0) is missed


def test_deadline_misses_counted_over_measured_jobs() -> None:
    recs = tuple(_deadline_job(i, o, f, d) for i, (o, f, d, _) in enumerate(DEADLINE_CASES))
    m: Metrics = compute_metrics(_net_result(recs, end_s=400.0))
    assert m.jobs_with_deadline == 6
    assert m.deadline_misses == sum(missed for *_, missed in DEADLINE_CASES)
