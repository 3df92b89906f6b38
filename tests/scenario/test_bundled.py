"""The bundled scenarios load and have the shape their comments promise."""

from __future__ import annotations

import math
from itertools import pairwise
from statistics import mean

import pytest

from cpnet.core.model import Tier
from cpnet.scenario import DEFAULT_SCENARIO, Scenario, load_scenario, scenario_names

WEST_HUBS = {"Inner Mongolia", "Guizhou", "Gansu", "Ningxia"}
EAST_HUBS = {"Beijing-Tianjin-Hebei", "Yangtze River Delta", "Guangdong-HK-Macao", "Chengdu-Chongqing"}


@pytest.fixture(scope="module")
def edwc() -> Scenario:
    return load_scenario(DEFAULT_SCENARIO)


def test_bundled_names() -> None:
    assert DEFAULT_SCENARIO in scenario_names()
    assert {"gavel-36-36-36", "east-data-west-compute", "philly-cluster"} <= set(scenario_names())


@pytest.mark.parametrize("name", scenario_names())
def test_every_bundled_scenario_loads_against_the_catalog(name: str) -> None:
    scenario = load_scenario(name)  # known_accelerators=None: checked against cpnet.catalog
    assert scenario.name == name
    assert scenario.sites and scenario.tenants
    assert all(s.pue >= 1.0 and s.price_usd_per_kwh > 0 for s in scenario.sites)


def test_gavel_cluster_is_36_36_36() -> None:
    scenario = load_scenario("gavel-36-36-36")
    assert len(scenario.sites) == 1
    assert scenario.total_inventory() == {"V100": 36, "P100": 36, "K80": 36}


def test_philly_cluster_fits_128_gpu_jobs_in_one_pool() -> None:
    scenario = load_scenario("philly-cluster")
    (site,) = scenario.sites
    assert min(site.inventory.values()) >= 128
    assert sum(site.inventory.values()) >= 2000


def test_edwc_has_the_eight_hubs_as_cloud_sites(edwc: Scenario) -> None:
    cloud = [s for s in edwc.sites if s.tier is Tier.CLOUD]
    assert len(cloud) == 8
    assert {s.region for s in cloud} == EAST_HUBS | WEST_HUBS
    for s in cloud:
        assert 40 <= sum(s.inventory.values()) <= 200, s.id
    assert 400 <= sum(sum(s.inventory.values()) for s in cloud) <= 1500


def test_edwc_inventory_is_multi_vendor(edwc: Scenario) -> None:
    models = set(edwc.total_inventory())
    for required in ("A100", "A800", "H800", "H20", "V100", "T4", "A10", "Ascend-910B", "MLU370-X8", "Hygon-DCU", "MTT-S4000"):
        assert required in models


def test_edwc_has_edge_and_device_tiers_in_the_east(edwc: Scenario) -> None:
    edge = [s for s in edwc.sites if s.tier is Tier.EDGE]
    device = [s for s in edwc.sites if s.tier is Tier.DEVICE]
    assert len(edge) >= 3 and len(device) >= 2
    assert all(s.region in EAST_HUBS for s in edge + device)
    # Huashan-A1000 (no public figures, so nothing could run on it) was replaced by Jetson-AGX-Orin.
    assert {m for s in device for m in s.inventory} == {"Jetson-AGX-Orin"}
    assert {"T4", "A10", "Qualcomm-AI100"} <= {m for s in edge for m in s.inventory}


def test_edwc_west_is_cheaper_greener_and_more_efficient_on_average(edwc: Scenario) -> None:
    hubs = [s for s in edwc.sites if s.tier is Tier.CLOUD]
    west = [s for s in hubs if s.region in WEST_HUBS]
    east = [s for s in hubs if s.region in EAST_HUBS]
    assert max(s.price_usd_per_kwh for s in west) < min(s.price_usd_per_kwh for s in east)
    assert mean(s.carbon_g_per_kwh for s in west) < mean(s.carbon_g_per_kwh for s in east)
    assert all(s.pue <= 1.2 for s in west) and all(s.pue <= 1.25 for s in east)


def test_edwc_eastern_hubs_are_nearer_the_eastern_users(edwc: Scenario) -> None:
    edges = [s.id for s in edwc.sites if s.tier is Tier.EDGE]
    hubs = [s for s in edwc.sites if s.tier is Tier.CLOUD]
    for e in edges:
        nearest = min(hubs, key=lambda h: edwc.latency_ms(e, h.id))
        assert nearest.region in EAST_HUBS, (e, nearest.id)


def test_edwc_latency_grows_with_distance(edwc: Scenario) -> None:
    # Among pairs whose latency comes from distance (not a declared number), latency is increasing in km.
    rule = edwc.network.latency_ms_for_km
    fixed = {frozenset((link.a, link.b)) for link in edwc.links if link.latency_ms != rule(edwc.distance_km(link.a, link.b))}
    assert len(fixed) == 3  # the last-mile device links carry declared numbers
    ids = [s.id for s in edwc.sites]
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :] if frozenset((a, b)) not in fixed]
    by_distance = sorted(pairs, key=lambda p: edwc.distance_km(*p))
    latencies = [edwc.latency_ms(*p) for p in by_distance]
    assert all(x <= y + 1e-9 for x, y in pairwise(latencies))
    assert latencies[-1] > 5 * latencies[0]


def test_edwc_every_pair_is_connected(edwc: Scenario) -> None:
    n = len(edwc.sites)
    links = edwc.network_links()
    assert len(links) == n * (n - 1) // 2
    assert all(math.isfinite(link.latency_ms) and link.bandwidth_gbps > 0 for link in links)
