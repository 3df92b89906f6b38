import pytest

from cpnet.core.model import Link
from cpnet.sched.feasibility import NetworkIndex
from sched_builders import job, site, snapshot

RATES = {("a", "V100"): 3.0, ("a", "K80"): 1.0, ("b", "K80"): 1.0}


@pytest.mark.parametrize(
    ("spec", "pools", "reason_part"),
    [
        (job("j", n=1), [("s1", "K80"), ("s1", "V100"), ("s2", "K80")], None),
        (job("j", n=4), [("s1", "V100")], None),  # only s1 has 4 V100; K80 pools hold 2
        (job("j", n=8), [], "largest usable pool"),
        (job("j", job_type="b", n=1, accelerators=frozenset({"V100"})), [], "no throughput"),
        (job("j", job_type="zzz"), [], "no throughput for job type 'zzz'"),
        (job("j", accelerators=frozenset({"H100"})), [], "allowed accelerators"),
        (job("j", sites=frozenset({"s2"})), [("s2", "K80")], None),
        (job("j", sites=frozenset({"nowhere"})), [], "allowed sites"),
        (job("j", data_site="s2", latency_slo_ms=5.0), [("s2", "K80")], None),
        (job("j", data_site="s2", latency_slo_ms=50.0), [("s2", "K80"), ("s1", "K80"), ("s1", "V100")], None),
        (job("j", n=4, data_site="s2", latency_slo_ms=5.0), [], "largest usable pool"),
        (job("j", n=0), [], "num_devices"),
    ],
)
def test_pools_and_reasons(spec, pools, reason_part):
    snap = snapshot([site("s1", K80=2, V100=4), site("s2", K80=2)], [], RATES, links=[Link("s1", "s2", 10.0, 100.0)])
    jp = NetworkIndex.build(snap).pools_for(spec)
    assert list(jp.pools) == pools
    if reason_part is None:
        assert jp.reason is None
    else:
        assert jp.reason is not None and reason_part in jp.reason


def test_site_order_prefers_data_site_then_latency_then_price():
    sites = [site("far", price=0.01, K80=1), site("near", price=0.5, K80=1), site("cheap", price=0.02, K80=1), site("home", price=0.9, K80=1)]
    links = [Link("home", "near", 1.0, 1.0), Link("home", "far", 30.0, 1.0), Link("home", "cheap", 1.0, 1.0)]
    snap = snapshot(sites, [], {("a", "K80"): 1.0}, links=links)
    idx = NetworkIndex.build(snap)
    assert [p[0] for p in idx.pools_for(job("j", data_site="home")).pools] == ["home", "cheap", "near", "far"]
    # without a data site: cheapest energy first
    assert [p[0] for p in idx.pools_for(job("j")).pools] == ["far", "cheap", "near", "home"]
