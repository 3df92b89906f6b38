"""The service model (cpnet.core.service): rate series, the diurnal generator, validation."""

from __future__ import annotations

import math

import pytest

from cpnet.core.errors import CpnetError, UnknownNameError
from cpnet.core.model import Link
from cpnet.core.paths import Paths
from cpnet.core.service import Pool, RateSeries, Service, ServiceError, diurnal_rate, rtt_by_region

HOUR_S = 3600.0


def _service(**overrides: object) -> Service:
    fields: dict[str, object] = {
        "name": "chat",
        "accelerators": frozenset({"T4", "H100"}),
        "devices_per_replica": 1,
        "service_rate_rps": {"T4": 10.0, "H100": 40.0},
        "demand": {"east": RateSeries.constant(5.0)},
        "slo_p99_ms": 500.0,
    }
    fields.update(overrides)
    return Service(**fields)  # type: ignore[arg-type]


# mean 100, peak/trough 3: A = (3 - 1) / (3 + 1) = 0.5, so peak 150, trough 50.
@pytest.mark.parametrize(
    ("hour_utc", "offset_h", "peak_hour", "expected_rps"),
    [
        (20, 0, 20, 150.0),  # the peak
        (8, 0, 20, 50.0),  # 12 h later: the trough
        (14, 0, 20, 100.0),  # 6 h before the peak: cos(-pi/2) = 0, the mean
        (12, 8, 20, 150.0),  # UTC+8 peaks at 20:00 local = 12:00 UTC
        (0, 8, 20, 50.0),  # 08:00 local: the trough
        (44, 0, 20, 150.0),  # the next day's peak (period 24 h)
    ],
)
def test_diurnal_rate_points(hour_utc: float, offset_h: float, peak_hour: float, expected_rps: float) -> None:
    rate = diurnal_rate(hour_utc * HOUR_S, mean_rps=100.0, peak_to_trough=3.0, peak_hour_utc=peak_hour, utc_offset_h=offset_h)
    assert rate == pytest.approx(expected_rps)


@pytest.mark.parametrize("ratio", [1.0, 2.0, 3.0, 10.0])
def test_diurnal_ratio_and_mean_are_exact(ratio: float) -> None:
    # 24 hourly samples of a 24-hour cosine sum to 0, so their mean is the mean exactly
    samples = [diurnal_rate(h * HOUR_S, 80.0, ratio, peak_hour_utc=13) for h in range(24)]
    assert max(samples) / min(samples) == pytest.approx(ratio)
    assert sum(samples) / 24 == pytest.approx(80.0)
    assert max(samples) == pytest.approx(samples[13])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mean_rps": -1.0, "peak_to_trough": 2.0}, "mean_rps"),
        ({"mean_rps": 10.0, "peak_to_trough": 0.5}, "peak_to_trough"),
        ({"mean_rps": 10.0, "peak_to_trough": math.inf}, "peak_to_trough"),
    ],
)
def test_diurnal_rejects(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ServiceError, match=field):
        diurnal_rate(0.0, peak_hour_utc=12, **kwargs)


@pytest.mark.parametrize(
    ("t_s", "expected_rps"),
    [(-5.0, 10.0), (0.0, 10.0), (3599.0, 10.0), (3600.0, 20.0), (7200.0, 0.0), (1e9, 0.0)],
)
def test_rate_series_is_a_step_function(t_s: float, expected_rps: float) -> None:
    series = RateSeries((0.0, 3600.0, 7200.0), (10.0, 20.0, 0.0))
    assert series.value_at(t_s) == expected_rps


def test_rate_series_sampled_holds_each_sample_one_step() -> None:
    series = RateSeries.sampled(lambda t: diurnal_rate(t, 100.0, 3.0, 20), 0.0, 24 * HOUR_S, HOUR_S)
    assert len(series.timestamps_s) == 24
    assert series.value_at(20.5 * HOUR_S) == pytest.approx(150.0)
    assert series.value_at(8.9 * HOUR_S) == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("times", "rates", "field"),
    [
        ((), (), "timestamps_s"),
        ((0.0, 1.0), (1.0,), "rates_rps"),
        ((0.0, 0.0), (1.0, 2.0), "timestamps_s"),
        ((1.0, 0.0), (1.0, 2.0), "timestamps_s"),
        ((0.0,), (-1.0,), "rates_rps"),
        ((0.0,), (math.nan,), "rates_rps"),
    ],
)
def test_rate_series_rejects(times: tuple[float, ...], rates: tuple[float, ...], field: str) -> None:
    with pytest.raises(ServiceError, match=f"field '{field}'"):
        RateSeries(times, rates)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"accelerators": frozenset()}, "accelerators"),
        ({"devices_per_replica": 0}, "devices_per_replica"),
        ({"service_rate_rps": {"T4": 10.0}}, "service_rate_rps"),  # no rate for H100
        ({"service_rate_rps": {"T4": 10.0, "H100": 0.0}}, "service_rate_rps"),
        ({"slo_p99_ms": 0.0}, "slo_p99_ms"),
        ({"slo_p99_ms": -5.0}, "slo_p99_ms"),
        ({"min_replicas": -1}, "min_replicas"),
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas"),
        ({"max_replicas": 0}, "max_replicas"),
        ({"residency_region": ""}, "residency_region"),
        ({"demand": {"east": 5.0}}, "demand"),
    ],
)
def test_service_validation_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ServiceError, match=rf"service '.*', field '{field}'") as info:
        _service(**overrides)
    assert info.value.field == field
    assert isinstance(info.value, CpnetError)


def test_min_above_max_message() -> None:
    with pytest.raises(ServiceError, match="3 > max_replicas 2"):
        _service(min_replicas=3, max_replicas=2)


def test_service_is_frozen_and_copies_its_mappings() -> None:
    rates = {"T4": 10.0, "H100": 40.0}
    service = _service(service_rate_rps=rates)
    rates["T4"] = 1.0
    assert service.service_rate_rps["T4"] == 10.0
    assert hash(service) == hash(_service())
    with pytest.raises(AttributeError):
        service.name = "other"  # type: ignore[misc]


def test_rates_at_reads_each_region() -> None:
    service = _service(demand={"east": RateSeries((0.0, 10.0), (1.0, 2.0)), "west": RateSeries.constant(7.0)})
    assert service.rates_at(0.0) == {"east": 1.0, "west": 7.0}
    assert service.rates_at(10.0) == {"east": 2.0, "west": 7.0}


def test_check_names() -> None:
    service = _service(residency_region="cn")
    service.check_names({"T4", "H100", "A10"}, {"cn", "us"})
    with pytest.raises(UnknownNameError, match=r"unknown accelerator model .* 'H100'"):
        service.check_names({"T4"}, {"cn"})
    with pytest.raises(UnknownNameError, match="'cn'"):
        service.check_names({"T4", "H100"}, {"us"})


@pytest.mark.parametrize(
    ("pool", "why"),
    [
        (Pool("s1", "cn", "T4", 4), None),
        (Pool("s1", "cn", "A10", 4), "model A10 not allowed"),
        (Pool("s1", "us", "T4", 4), "outside residency region cn"),
        (Pool("s1", "cn", "T4", 1), "1 free devices < 2 per replica"),
    ],
)
def test_allows(pool: Pool, why: str | None) -> None:
    assert _service(residency_region="cn", devices_per_replica=2).allows(pool) == why


def test_pool_rejects_negative_free_devices() -> None:
    with pytest.raises(CpnetError, match="free_devices"):
        Pool("s1", "cn", "T4", -1)


def test_rtt_by_region_from_paths() -> None:
    paths = Paths.build(["a", "b", "c", "d"], [Link("a", "b", 10.0, 100.0), Link("b", "c", 15.0, 100.0)])
    table = rtt_by_region(paths, {"east": "a", "west": "c"})
    assert table["east"] == {"a": 0.0, "b": 10.0, "c": 25.0}  # d is unreachable: left out
    assert table["west"] == {"c": 0.0, "b": 15.0, "a": 25.0}
