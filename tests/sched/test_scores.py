"""Each score on literal cases (value and range), and the default profile's site order."""

import math
from dataclasses import replace

import pytest

from cpnet.core.model import Link
from cpnet.sched.feasibility import NetworkIndex
from cpnet.sched.scores import DataLocality, EnergyPrice, Latency, Throughput
from sched_builders import job, site, snapshot

HOME, NEAR, FAR, ALONE = site("home", K80=1), site("near", K80=1), site("far", K80=1), site("alone", K80=1)
LINKS = [Link("home", "near", 100.0, 1.0), Link("home", "far", 300.0, 1.0)]
NET = NetworkIndex.build(snapshot([HOME, NEAR, FAR, ALONE], [], {("a", "K80"): 1.0}, links=LINKS))
RATES = {"K80": 1.0, "V100": 4.0}


@pytest.mark.parametrize(
    ("score", "spec", "site", "model", "want"),
    [
        (Throughput(), job("j"), HOME, "V100", 1.0),
        (Throughput(), job("j"), HOME, "K80", 0.25),
        (Throughput(), job("j"), HOME, "P100", 0.0),  # not usable
        (DataLocality(), job("j", data_site="home"), HOME, "K80", 1.0),
        (DataLocality(), job("j", data_site="home"), NEAR, "K80", 0.0),
        (DataLocality(), job("j"), HOME, "K80", 0.0),
        (Latency(), job("j", data_site="home"), HOME, "K80", 1.0),
        (Latency(), job("j", data_site="home"), NEAR, "K80", 0.5),  # 100 ms
        (Latency(), job("j", data_site="home"), FAR, "K80", 0.25),  # 300 ms
        (Latency(), job("j", data_site="home"), ALONE, "K80", 0.0),  # unreachable
        (Latency(), job("j"), FAR, "K80", 1.0),  # no data site
        (EnergyPrice(), job("j"), site("x", price=0.1, K80=1), "K80", 0.5),
        (EnergyPrice(), job("j"), replace(site("x", price=0.1, K80=1), pue=3.0), "K80", 0.25),
        (EnergyPrice(), job("j"), site("x", price=0.0, K80=1), "K80", 1.0),
    ],
)
def test_score_value_and_range(score, spec, site, model, want):
    got = score.score(spec, site, model, RATES, NET)
    assert 0.0 <= got <= 1.0 and math.isclose(got, want)


@pytest.mark.parametrize(
    ("data_site", "order"),
    [
        ("home", ["home", "cheap", "near", "far"]),  # data site, latency, then price, then id
        (None, ["far", "cheap", "near", "home"]),  # no data site: price only
    ],
)
def test_weighted_scores_give_the_documented_site_order(data_site, order):
    sites = [site("far", price=0.01, K80=1), site("near", price=0.5, K80=1), site("cheap", price=0.02, K80=1), site("home", price=0.9, K80=1)]
    links = [Link("home", "near", 1.0, 1.0), Link("home", "far", 30.0, 1.0), Link("home", "cheap", 1.0, 1.0)]
    idx = NetworkIndex.build(snapshot(sites, [], {("a", "K80"): 1.0}, links=links))
    assert [p[0] for p in idx.pools_for(job("j", data_site=data_site)).pools] == order


def test_a_zero_latency_neighbour_still_ranks_after_the_data_site():
    sites = [site("b", price=0.0, K80=1), site("a", price=0.9, K80=1)]
    idx = NetworkIndex.build(snapshot(sites, [], {("a", "K80"): 1.0}, links=[Link("a", "b", 0.0, 1.0)]))
    assert [p[0] for p in idx.pools_for(job("j", data_site="a")).pools] == ["a", "b"]
