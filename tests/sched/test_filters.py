"""Each filter on literal (job, pool) cases: its status kind, and its reason when it rejects."""

from dataclasses import replace

import pytest

from cpnet.core.model import Link
from cpnet.sched.feasibility import NetworkIndex
from cpnet.sched.filters import AcceleratorsAllowed, GangFits, KnownThroughput, LatencySlo, SitesAllowed, SiteUp, ValidGang
from cpnet.sched.framework import SCHEDULABLE, Unschedulable, UnschedulableAndUnresolvable
from sched_builders import job, site, snapshot

S1, S2, DOWN = site("s1", K80=2, V100=4), site("s2", K80=2), site("dn", V100=8)
LINKS = [Link("s1", "s2", 10.0, 100.0), Link("s2", "dn", 5.0, 100.0)]
NET = NetworkIndex.build(replace(snapshot([S1, S2], [], {("a", "V100"): 3.0, ("a", "K80"): 1.0}, links=LINKS), down_sites=(DOWN,)))
OK, WAIT, FAIL = "ok", "wait", "fail"


@pytest.mark.parametrize(
    ("flt", "spec", "site", "model", "want", "reason_part"),
    [
        (SiteUp(), job("j"), S1, "K80", OK, None),
        (SiteUp(), job("j"), DOWN, "V100", WAIT, "'dn' is down"),
        (ValidGang(), job("j", n=1), S1, "K80", OK, None),
        (ValidGang(), job("j", n=0), S1, "K80", FAIL, "num_devices must be >= 1"),
        (SitesAllowed(), job("j"), S1, "K80", OK, None),
        (SitesAllowed(), job("j", sites=frozenset({"s2"})), S2, "K80", OK, None),
        (SitesAllowed(), job("j", sites=frozenset({"s2"})), S1, "K80", FAIL, "not among the allowed sites"),
        (LatencySlo(), job("j", latency_slo_ms=1.0), S1, "K80", OK, None),  # no data site: no SLO
        (LatencySlo(), job("j", data_site="s1", latency_slo_ms=10.0), S2, "K80", OK, None),
        (LatencySlo(), job("j", data_site="s1", latency_slo_ms=9.0), S2, "K80", FAIL, "more than 9.0 ms"),
        (LatencySlo(), job("j", data_site="s1", latency_slo_ms=15.0), DOWN, "V100", OK, None),  # 10 + 5 ms via s2
        (AcceleratorsAllowed(), job("j", accelerators=frozenset({"V100"})), S1, "V100", OK, None),
        (AcceleratorsAllowed(), job("j", accelerators=frozenset({"V100"})), S1, "K80", FAIL, "allowed accelerators"),
        (KnownThroughput(), job("j"), S1, "V100", OK, None),
        (KnownThroughput(), job("j", job_type="zzz"), S1, "V100", FAIL, "no throughput for job type 'zzz'"),
        (GangFits(), job("j", n=4), S1, "V100", OK, None),
        (GangFits(), job("j", n=4), S1, "K80", FAIL, "has 2 x K80"),
    ],
)
def test_filter_status(flt, spec, site, model, want, reason_part):
    st = flt.filter(spec, site, model, NET)
    kind = {SCHEDULABLE: OK}.get(st) or (WAIT if isinstance(st, Unschedulable) else FAIL if isinstance(st, UnschedulableAndUnresolvable) else "?")
    assert kind == want
    if reason_part is not None:
        assert reason_part in st.reason


@pytest.mark.parametrize(
    ("spec", "resolvable", "reason_part"),
    [
        (job("j", n=8), True, "'dn' is down"),  # only the down site has 8 of one model: wait
        (job("j", n=8, sites=frozenset({"s1", "s2"})), False, "largest usable pool"),  # not allowed there: fail
        (job("j", n=16), False, "the largest usable pool is 8 x V100 at dn"),
        (job("j", job_type="zzz"), False, "no throughput"),
    ],
)
def test_wait_or_fail_over_all_known_sites(spec, resolvable, reason_part):
    jp = NET.pools_for(spec)
    assert not jp.feasible and jp.resolvable == resolvable
    assert reason_part in (jp.reason or "")
    inf = jp.infeasible(spec.id)
    assert (inf.job_id, inf.resolvable) == (spec.id, resolvable)


def test_down_sites_are_never_offered():
    assert {p[0] for p in NET.pools_for(job("j", n=1)).pools} == {"s1", "s2"}
