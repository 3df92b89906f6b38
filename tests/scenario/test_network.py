"""Distance-derived latency, declared links, unconnected pairs and price conversion."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cpnet.core.errors import UnknownNameError
from cpnet.scenario import CNY_PER_USD, NetworkModel, Scenario, great_circle_km, load_scenario

BEIJING = (39.90, 116.41)
SHANGHAI = (31.23, 121.47)


def test_great_circle_beijing_shanghai() -> None:
    # Published great-circle distance Beijing-Shanghai: about 1,067 km.
    assert great_circle_km(*BEIJING, *SHANGHAI) == pytest.approx(1067, abs=5)
    assert great_circle_km(*BEIJING, *BEIJING) == 0.0


@pytest.mark.parametrize(
    ("km", "route_factor", "us_per_km", "overhead_ms", "expected_ms"),
    [
        (1000.0, 1.0, 5.0, 0.0, 10.0),  # "1,000 km of fibre adds roughly 10 ms of round-trip delay"
        (1000.0, 1.5, 4.9, 0.0, 14.7),
        (100.0, 1.0, 4.9, 0.0, 0.98),  # the derived row of network_latency_reference.csv
        (0.0, 1.5, 4.9, 2.0, 2.0),
    ],
)
def test_latency_rule_is_round_trip(km: float, route_factor: float, us_per_km: float, overhead_ms: float, expected_ms: float) -> None:
    rule = NetworkModel(route_factor=route_factor, fibre_us_per_km=us_per_km, overhead_ms=overhead_ms)
    assert rule.latency_ms_for_km(km) == pytest.approx(expected_ms)


def _write(tmp_path: Path, network: str, links: str) -> Scenario:
    text = f"""\
schema_version: 1
name: three
{network}
sites:
  - {{id: bj, tier: edge, region: n, lat: {BEIJING[0]}, lon: {BEIJING[1]}, inventory: {{T4: 2}}, pue: 1.3,
     price_cny_per_kwh: 0.72, carbon_g_per_kwh: 558}}
  - {{id: sh, tier: cloud, region: e, lat: {SHANGHAI[0]}, lon: {SHANGHAI[1]}, inventory: {{A100: 8, V100: 0}}, pue: 1.2,
     price_usd_per_kwh: 0.09, carbon_g_per_kwh: 585}}
  - {{id: car, tier: device, region: n, lat: 39.8, lon: 116.5, inventory: {{Jetson-AGX-Orin: 1}}, pue: 1.0,
     price_usd_per_kwh: 0.12, carbon_g_per_kwh: 558, emulated: [Jetson-AGX-Orin]}}
{links}
tenants:
  - {{id: a, weight: 1}}
  - {{id: b, weight: 3}}
"""
    path = tmp_path / "three.yaml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(str(path))


def test_declared_links_and_distance_fallback(tmp_path: Path) -> None:
    scenario = _write(
        tmp_path,
        "network: {unlinked_pairs: from_distance, route_factor: 2.0, default_bandwidth_gbps: 5}",
        "links:\n  - {a: car, b: bj, latency_ms: 9.5, bandwidth_gbps: 0.5}\n  - {a: bj, b: sh, latency: from_distance, bandwidth_gbps: 100}",
    )
    km = great_circle_km(*BEIJING, *SHANGHAI)
    assert scenario.latency_ms("bj", "sh") == pytest.approx(2 * km * 2.0 * 4.9 / 1000)
    assert scenario.bandwidth_gbps("sh", "bj") == 100
    assert scenario.latency_ms("bj", "car") == 9.5  # declared, either direction
    assert scenario.bandwidth_gbps("car", "sh") == 5  # undeclared: the default
    assert scenario.latency_ms("car", "sh") == pytest.approx(2 * scenario.distance_km("car", "sh") * 2.0 * 4.9 / 1000)
    assert scenario.latency_ms("sh", "sh") == 0.0
    assert len(scenario.network_links()) == 3


def test_without_fallback_unlinked_pairs_are_unreachable(tmp_path: Path) -> None:
    scenario = _write(tmp_path, "", "links:\n  - {a: car, b: bj, latency_ms: 9.5, bandwidth_gbps: 0.5}")
    assert scenario.latency_ms("bj", "sh") == math.inf
    assert scenario.bandwidth_gbps("bj", "sh") == 0.0
    assert scenario.link("bj", "sh") is None
    assert [frozenset((link.a, link.b)) for link in scenario.network_links()] == [frozenset(("bj", "car"))]


def test_site_fields_tenants_and_totals(tmp_path: Path) -> None:
    scenario = _write(tmp_path, "", "")
    bj = scenario.site("bj")
    assert bj.price_usd_per_kwh == pytest.approx(0.72 / CNY_PER_USD)
    assert scenario.site("car").emulated == frozenset({"Jetson-AGX-Orin"})
    assert {t: scenario.tenants[t].weight for t in scenario.tenants} == {"a": 1.0, "b": 3.0}
    assert scenario.total_inventory() == {"T4": 2, "A100": 8, "Jetson-AGX-Orin": 1}  # zero counts omitted
    with pytest.raises(UnknownNameError, match="valid: bj, car, sh"):
        scenario.latency_ms("bj", "tokyo")
