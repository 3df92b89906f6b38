"""Quotas with borrowing and lending (Kueue cohort semantics): hand-computed availability, reclaim, and invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpnet.core.errors import UnknownNameError
from cpnet.core.tenancy import NodeKind, TenantNode, TenantTree
from cpnet.sched.quota import Claim, Quotas, reclaim

NV = "NVIDIA"
ORG, TEAM = NodeKind.ORG, NodeKind.TEAM


def tree(*nodes: TenantNode) -> TenantTree:
    return TenantTree(nodes)


# acme (1000) = ml (600, lends at most 100) + web (400); beta (200) lends nothing.
#   own quota: alice 300, ml 300 (600 - alice's 300), carol 400, beta 200; acme, web, bob, dan 0.
#   SQ / G: alice 300/0, bob 0/0, ml 600/500, carol 400/0, web 400/0, acme 100+400 = 500/0, beta 200/200,
#   network = 500 + 0 = 500 lendable across orgs.
ACME = tree(
    TenantNode("acme", ORG, quota_cu_s=1000),
    TenantNode("ml", TEAM, parent="acme", quota_cu_s=600, lending_limit_cu_s=100),
    TenantNode("alice", parent="ml", quota_cu_s=300),
    TenantNode("bob", parent="ml"),
    TenantNode("web", TEAM, parent="acme", quota_cu_s=400),
    TenantNode("carol", parent="web", quota_cu_s=400, borrowing_limit_cu_s=50),
    TenantNode("beta", ORG, quota_cu_s=200, lending_limit_cu_s=0),
    TenantNode("dan", parent="beta"),
)
BUSY = {"alice": {NV: 300}, "bob": {NV: 250}, "carol": {NV: 300}, "dan": {NV: 100}}


@pytest.mark.parametrize(
    ("usage", "tenant", "expected"),
    [
        # idle: ml's 600 and web's 400 (web lends all); beta's 200 is beta's alone
        ({}, "alice", 1000.0),
        ({}, "bob", 1000.0),  # no quota of its own: all it gets is borrowed
        ({}, "carol", 450.0),  # its 400 plus a borrowing limit of 50
        ({}, "dan", 700.0),  # beta's 200 plus acme's lendable 500 (ml keeps 500 back from other orgs)
        # busy: acme uses 850 of which the network sees 350 of its 500; beta keeps 100 idle for dan
        (BUSY, "alice", 150.0),
        (BUSY, "carol", 150.0),  # min(150 left in the network, 400 - 300 + 50)
        (BUSY, "dan", 250.0),  # beta's idle 100 plus the network's 150
        ({"carol": {NV: 430}}, "carol", 20.0),  # 400 + 50 - 430
        ({"carol": {NV: 450}}, "carol", 0.0),
        ({"alice": {NV: 300}, "bob": {NV: 300}, "carol": {NV: 400}}, "dan", 200.0),  # acme holds all it may; beta's own 200 remains
    ],
)
def test_available_cu_s(usage: dict[str, dict[str, float]], tenant: str, expected: float) -> None:
    assert Quotas(ACME, usage).available(tenant, NV) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("tenant", "cu_s", "ok"),
    [("alice", 150.0, True), ("alice", 150.5, False), ("dan", 250.0, True), ("dan", 251.0, False), ("carol", 0.0, True)],
)
def test_admits_a_job_of_given_cu_s(tenant: str, cu_s: float, ok: bool) -> None:
    assert Quotas(ACME, BUSY).admits(tenant, cu_s, NV) is ok


def test_admit_books_usage_and_release_returns_it() -> None:
    q = Quotas(ACME, BUSY).admit("alice", 100.0, NV)
    assert q.available("dan", NV) == pytest.approx(150.0)  # 250 - 100
    assert q.in_use("ml", NV) == pytest.approx(650.0)
    assert q.release("alice", 100.0, NV).available("dan", NV) == pytest.approx(250.0)


def test_borrowed_is_use_beyond_the_subtree_quota() -> None:
    q = Quotas(ACME, BUSY)
    assert q.borrowed("bob", "*") == 250.0  # bob has no quota
    assert q.borrowed("ml", "*") == 0.0  # 550 of 600
    assert q.borrowed("dan", "*") == 100.0  # beta's quota is beta's, not dan's
    assert q.borrowed("dan", NV) == 0.0  # the NVIDIA dimension has no quota anywhere: nobody borrows in it


# Per-family quota, no all-family quota: only the NVIDIA dimension is enforced.
#   a: SQ 60 G 0; b: SQ 40, lends at most 10 -> G 30; x: own 0, SQ 60 + 10 = 70.
FAMILY = tree(
    TenantNode("x", ORG, family_quota_cu_s={NV: 100}),
    TenantNode("a", parent="x", family_quota_cu_s={NV: 60}),
    TenantNode("b", parent="x", family_quota_cu_s={NV: 40}, lending_limit_cu_s=10),
)


@pytest.mark.parametrize(
    ("usage", "tenant", "family", "expected"),
    [
        ({}, "a", NV, 70.0),  # its 60 and the 10 b lends
        ({}, "b", NV, 100.0),  # its 30 kept back, its 10 lent, and a's 60
        ({}, "a", "Huawei", math.inf),  # no Huawei quota anywhere: not enforced
        ({"a": {NV: 70}}, "b", NV, 30.0),  # a took the 10 b lends: b keeps its guaranteed 30
        ({"a": {NV: 70, "Huawei": 500}}, "b", NV, 30.0),  # use on another family does not count against NVIDIA
    ],
)
def test_family_quota(usage: dict[str, dict[str, float]], tenant: str, family: str, expected: float) -> None:
    assert Quotas(FAMILY, usage).available(tenant, family) == pytest.approx(expected)


def test_all_and_family_quota_both_bind() -> None:
    t = tree(TenantNode("x", ORG, quota_cu_s=100, family_quota_cu_s={NV: 30}), TenantNode("a", parent="x"))
    q = Quotas(t, {"a": {"Huawei": 50}})
    assert q.available("a", NV) == 30.0  # min(ALL: 50 left, NVIDIA: 30)
    assert q.available("a", "Huawei") == 50.0  # only the all-family quota binds Huawei


def test_a_tree_without_quotas_admits_everything() -> None:
    q = Quotas(TenantTree((TenantNode("a"), TenantNode("b"))), {"a": {NV: 1e9}})
    assert q.enforced() == frozenset()
    assert q.available("b", NV) == math.inf and q.admits("b", 1e12, NV)


def test_pool_is_lendable_to_every_org() -> None:
    t = tree(TenantNode("a", quota_cu_s=10), TenantNode("b"))
    assert Quotas(t, {}).available("b", NV) == 10.0
    assert Quotas(t, {}, pool_cu_s={"*": 90.0}).available("b", NV) == 100.0
    assert Quotas(t, {}, pool_cu_s={"*": 90.0}).available("a", NV) == 100.0


def test_usage_of_unknown_or_non_tenant_nodes_is_refused() -> None:
    with pytest.raises(UnknownNameError):
        Quotas(ACME, {"zed": {NV: 1}})
    with pytest.raises(ValueError, match="'ml' is a team"):
        Quotas(ACME, {"ml": {NV: 1}})
    with pytest.raises(UnknownNameError):
        Quotas(ACME).available("ml", NV)


# Reclaim. acme has no quota of its own; ml = alice 300 (bob none); web = carol 100 (dave none): 400 in all.
RECLAIM = tree(
    TenantNode("acme", ORG),
    TenantNode("ml", TEAM, parent="acme"),
    TenantNode("alice", parent="ml", quota_cu_s=300),
    TenantNode("bob", parent="ml"),
    TenantNode("web", TEAM, parent="acme"),
    TenantNode("carol", parent="web", quota_cu_s=100),
    TenantNode("dave", parent="web"),
)


@pytest.mark.parametrize(
    ("usage", "demand", "claims"),
    [
        # bob (a sibling) and dave (a cousin: web uses 150 of its 100) use alice's idle quota; 100 is free.
        # alice wants 300: 100 is free, 150 comes from bob (nearest cohort first), 50 from dave; carol keeps hers.
        (
            {"bob": {NV: 150}, "carol": {NV: 100}, "dave": {NV: 50}},
            {"alice": {NV: 300}},
            [Claim("alice", "bob", NV, 150.0), Claim("alice", "dave", NV, 50.0)],
        ),
        # alice wants 120 and 100 is free: 20 from bob
        ({"bob": {NV: 150}, "carol": {NV: 100}, "dave": {NV: 50}}, {"alice": {NV: 120}}, [Claim("alice", "bob", NV, 20.0)]),
        # alice wants more than her quota: she may reclaim only what she is owed (300), the rest she must borrow
        ({"bob": {NV: 400}}, {"alice": {NV: 1000}}, [Claim("alice", "bob", NV, 300.0)]),
        # bob has no quota and ml's and acme's are all in use: bob is owed nothing
        ({"alice": {NV: 300}, "carol": {NV: 100}}, {"bob": {NV: 50}}, []),
        # dave borrows from alice, but carol is owed her own 100 back first: carol reclaims from dave
        ({"alice": {NV: 200}, "dave": {NV: 200}}, {"carol": {NV: 100}}, [Claim("carol", "dave", NV, 100.0)]),
        # enough free quota: no claim
        ({"bob": {NV: 100}}, {"alice": {NV: 300}}, []),
    ],
)
def test_reclaim(usage: dict[str, dict[str, float]], demand: dict[str, dict[str, float]], claims: list[Claim]) -> None:
    got = reclaim(Quotas(RECLAIM, usage), demand)
    assert [(c.owner, c.borrower, c.family) for c in got] == [(c.owner, c.borrower, c.family) for c in claims]
    assert [c.cu_s for c in got] == pytest.approx([c.cu_s for c in claims])


def test_two_owners_do_not_count_on_the_same_freed_quota() -> None:
    t = tree(TenantNode("a", quota_cu_s=100), TenantNode("b", quota_cu_s=100), TenantNode("c"))
    got = reclaim(Quotas(t, {"c": {NV: 200}}), {"a": {NV: 100}, "b": {NV: 100}})
    assert got == (Claim("a", "c", NV, 100.0), Claim("b", "c", NV, 100.0))


def test_reclaim_never_takes_what_a_lending_limit_keeps_out_of_reach() -> None:
    # b lends nothing and has no spare; c borrows a's quota: a takes it back, and never from b
    t = tree(
        TenantNode("x", ORG),
        TenantNode("a", parent="x", quota_cu_s=50),
        TenantNode("b", parent="x", quota_cu_s=50, lending_limit_cu_s=0),
        TenantNode("c", parent="x"),
    )
    got = reclaim(Quotas(t, {"b": {NV: 50}, "c": {NV: 50}}), {"a": {NV: 50}})
    assert got == (Claim("a", "c", NV, 50.0),)


# Property: random trees and job streams; the rule's promises hold whatever was admitted.
@st.composite
def trees_and_jobs(draw: st.DrawFn) -> tuple[TenantTree, list[tuple[str, float]]]:
    limit = st.none() | st.integers(0, 80).map(float)
    nodes: list[TenantNode] = []
    for o in range(draw(st.integers(1, 2))):
        teams: list[list[TenantNode]] = []
        for m in range(draw(st.integers(1, 2))):
            members = [
                TenantNode(
                    f"t{o}{m}{k}",
                    parent=f"m{o}{m}",
                    quota_cu_s=draw(st.none() | st.integers(0, 60).map(float)),
                    borrowing_limit_cu_s=draw(limit),
                    lending_limit_cu_s=draw(limit),
                )
                for k in range(draw(st.integers(1, 3)))
            ]
            teams.append(members)
        team_nodes: list[TenantNode] = []
        for m, members in enumerate(teams):
            inner = sum(n.quota_cu_s or 0.0 for n in members)
            quota = draw(st.none() | st.integers(0, 60).map(lambda x, inner=inner: inner + x))
            team_nodes.append(TenantNode(f"m{o}{m}", TEAM, parent=f"o{o}", quota_cu_s=quota, borrowing_limit_cu_s=draw(limit), lending_limit_cu_s=draw(limit)))
        probe = TenantTree((TenantNode(f"o{o}", ORG), *team_nodes, *(n for ms in teams for n in ms)))
        inner = sum(probe.subtree_quota(n.id, "*") for n in team_nodes)
        org_quota = draw(st.none() | st.integers(0, 60).map(lambda x, inner=inner: inner + x))
        nodes += [TenantNode(f"o{o}", ORG, quota_cu_s=org_quota, lending_limit_cu_s=draw(limit)), *team_nodes, *(n for ms in teams for n in ms)]
    t = TenantTree(tuple(nodes))
    jobs = draw(st.lists(st.tuples(st.sampled_from(t.tenants()), st.integers(1, 40).map(float)), max_size=40))
    return t, jobs


@settings(max_examples=150, deadline=None)
@given(trees_and_jobs())
def test_never_beyond_the_quota_the_borrowing_limits_or_the_lending_limits(case: tuple[TenantTree, list[tuple[str, float]]]) -> None:
    t, jobs = case
    q = Quotas(t)
    if not q.enforced():
        return
    for tenant, cu in jobs:
        if q.admits(tenant, cu, NV):
            q = q.admit(tenant, cu, NV)
    slack = 1e-6
    total = sum(t.subtree_quota(r, "*") for r in t.roots())
    use = {n.id: q.in_use(n.id, "*") for n in t}
    everyone = sum(use[r] for r in t.roots())
    assert everyone <= total + slack  # the network never holds more than all quotas together
    for n in t:
        if n.borrowing_limit_cu_s is not None:
            assert use[n.id] <= t.subtree_quota(n.id, "*") + n.borrowing_limit_cu_s + slack, n.id
        if n.lending_limit_cu_s is not None:
            kept = max(0.0, t.subtree_quota(n.id, "*") - n.lending_limit_cu_s)
            outsiders = everyone - use[n.id]
            assert outsiders <= total - kept + slack, n.id  # others never use more than L of n's quota


@settings(max_examples=100, deadline=None)
@given(trees_and_jobs())
def test_a_tenant_gets_its_own_quota_whenever_it_is_idle_and_reserved(case: tuple[TenantTree, list[tuple[str, float]]]) -> None:
    # a tenant that lends nothing (L = 0) and uses nothing can always start up to its quota
    t, jobs = case
    q = Quotas(t)
    if not q.enforced():
        return
    reserved = [n.id for n in t if n.kind is NodeKind.TENANT and n.lending_limit_cu_s == 0 and n.quota_cu_s]
    for tenant, cu in jobs:
        if tenant not in reserved and q.admits(tenant, cu, NV):
            q = q.admit(tenant, cu, NV)
    for r in reserved:
        assert q.available(r, NV) >= t.node(r).quota_cu_s - 1e-6  # type: ignore[operator]
