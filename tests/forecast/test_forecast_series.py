"""Hourly demand series: exact overlap per hour, history window, grouping, CU."""

from __future__ import annotations

import numpy as np
import pytest

from cpnet.core.errors import CpnetError
from cpnet.core.model import JobSpec
from cpnet.forecast import DemandJob, GroupBy, Unit, build_series, demand_jobs, hourly_load, workload_class
from cpnet.forecast.series import history_window

H = 3600.0


def test_hourly_load_is_the_exact_overlap() -> None:
    # 3 devices from 0.5 h to 2.5 h: half of hour 0, all of hour 1, half of hour 2
    out = hourly_load(np.array([0.5 * H]), np.array([2 * H]), np.array([3.0]), 0, 4)
    assert out.tolist() == pytest.approx([1.5, 3.0, 1.5, 0.0])
    # 2 devices for half of hour 1; and 1 device from before the window until 1.5 h, counted while it runs
    out = hourly_load(np.array([1.25 * H, -5 * H]), np.array([0.5 * H, 6.5 * H]), np.array([2.0, 1.0]), 0, 3)
    assert out.tolist() == pytest.approx([1.0, 1.0 + 0.5, 0.0])
    # device-hours are conserved when the window holds the whole job
    rng = np.random.default_rng(1)
    a, d, w = rng.uniform(0, 50 * H, 200), rng.uniform(60, 20 * H, 200), rng.integers(1, 9, 200).astype(float)
    assert hourly_load(a, d, w, 0, 80).sum() == pytest.approx((d / H * w).sum())


def test_history_window_starts_after_the_last_week_long_gap() -> None:
    # two stragglers, a 10-day gap, then the real history from hour 300 to hour 340
    arrivals = np.array([0.0, 2 * H, 300.2 * H, 310 * H, 340.9 * H])
    assert history_window(arrivals) == (300, 340)
    assert history_window(np.array([0.0, 5 * H])) == (0, 5)


def test_workload_class() -> None:
    assert [workload_class(1, 500), workload_class(1, 1000), workload_class(1), workload_class(8), workload_class(16)] == [
        "fractional",
        "1-gpu",
        "1-gpu",
        "2-8-gpu",
        ">8-gpu",
    ]


def _job(i: int, tenant: str, devices: int, arrival_h: float, accelerators: frozenset[str] | None = None) -> JobSpec:
    return JobSpec(f"j{i}", tenant, "ResNet-18 (batch size 32)", devices, 1.0, arrival_h * H, accelerators=accelerators, extra={"duration_s": repr(2 * H)})


def test_build_series_by_tenant_and_cu() -> None:
    specs = [_job(i, "a" if i % 3 else "b", 1 + (i % 2) * 3, i * 1.0) for i in range(48)]
    ss = build_series(demand_jobs(specs), GroupBy.TENANT)
    assert [s.key for s in ss.series] == ["tenant=a", "tenant=b"]  # largest first
    assert all(s.unit is Unit.DEVICE_HOURS for s in ss.series)
    assert ss.cu_note is not None and "48 of 48" in ss.cu_note
    top = build_series(demand_jobs(specs), GroupBy.TENANT, top=1)
    assert [s.key for s in top.series] == ["tenant=a"]
    # one known model for the whole trace: CU series beside device-hours, scaled by its rate
    with_cu = build_series(demand_jobs(specs, accelerator="V100"), GroupBy.TOTAL)
    dh, cu = with_cu.series
    assert with_cu.cu_note is None and cu.unit is Unit.CU
    np.testing.assert_allclose(cu.values, dh.values)  # V100 is the reference: 1 CU per device-hour
    t4 = build_series(demand_jobs(specs, accelerator="T4"), GroupBy.CLASS)
    assert {s.key for s in t4.series} == {"class=1-gpu", "class=2-8-gpu"}
    assert t4.series[1].values.sum() < t4.series[0].values.sum()  # a T4 hour is worth less than a V100 hour


def test_jobs_naming_one_model_get_cu_rates() -> None:
    jobs = demand_jobs([_job(0, "a", 1, 0.0, frozenset({"T4"})), _job(1, "a", 1, 1.0, frozenset({"T4", "V100"}))])
    assert jobs[0].cu_rate is not None and 0 < jobs[0].cu_rate < 1
    assert jobs[1].cu_rate is None


def test_bad_inputs_are_user_errors() -> None:
    with pytest.raises(CpnetError, match="no CU rate"):
        demand_jobs([], accelerator="no-such-chip")
    no_duration = JobSpec("x", "a", "ResNet-18 (batch size 32)", 1, 1.0, 0.0)
    with pytest.raises(CpnetError, match="no recorded duration"):
        demand_jobs([no_duration])
    with pytest.raises(CpnetError, match="no jobs"):
        build_series([])
    with pytest.raises(CpnetError, match="within 1 hour"):
        build_series([DemandJob(0.0, H, 1, "a", "1-gpu", None)])
