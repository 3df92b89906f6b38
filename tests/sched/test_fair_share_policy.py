"""The `fair-share` policy: tenant shares (not job counts), fair-share and priority preemption by least
work lost, minimum runtime, budget holds, and no preemption cycles."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpnet.core.model import Accelerator, Tenant
from cpnet.core.snapshot import UsageEntry
from cpnet.core.tenancy import NodeKind, TenantNode, TenantTree
from cpnet.sched.runner import SchedulerConfig, schedule
from sched_builders import apply, check_gangs, job, site, snapshot, view

RATES = {("a", "A100"): 2.0, ("a", "V100"): 1.0}  # an A100 does 2 V100 device-seconds: 2 CU per device-second
POLICY = SchedulerConfig("fair-share").build()
NVIDIA = {m: Accelerator(m, "NVIDIA", None, None, None, None, "test") for m in ("A100", "V100")}  # one family


def one_family(snap):  # type: ignore[no-untyped-def]
    return replace(snap, catalog=NVIDIA)


def placed_by_tenant(d, snap) -> dict[str, int]:  # type: ignore[no-untyped-def]
    tenant = {j.id: j.spec.tenant for j in snap.jobs}
    out: dict[str, int] = {}
    for p in d.placements:
        out[tenant[p.job_id]] = out.get(tenant[p.job_id], 0) + p.num_devices
    return out


def test_a_tenant_with_many_jobs_gets_its_share_not_one_per_job() -> None:
    # tenant x queued 20 jobs before y queued 20; 8 devices, weights 1:1 -> 4 and 4 (fifo would give x all 8)
    jobs = [view(job(f"x{i}", tenant="x", arrival=float(i))) for i in range(20)] + [view(job(f"y{i}", tenant="y", arrival=100.0 + i)) for i in range(20)]
    snap = snapshot([site("s", A100=8)], jobs, RATES, now=200.0, tenants=[Tenant("x"), Tenant("y")])
    d = schedule(snap, POLICY)
    check_gangs(snap, d)
    assert placed_by_tenant(d, snap) == {"x": 4, "y": 4}
    assert placed_by_tenant(schedule(snap, SchedulerConfig("fifo").build()), snap) == {"x": 8}
    # within a tenant: arrival order
    assert sorted(p.job_id for p in d.placements if p.job_id.startswith("x")) == ["x0", "x1", "x2", "x3"]


def test_weights_split_the_network_and_models_are_chosen_by_speed() -> None:
    jobs = [view(job(f"x{i}", tenant="x")) for i in range(12)] + [view(job(f"y{i}", tenant="y")) for i in range(12)]
    snap = one_family(snapshot([site("s", A100=4, V100=8)], jobs, RATES, tenants=[Tenant("x", 1.0), Tenant("y", 3.0)]))
    d = schedule(snap, POLICY)
    check_gangs(snap, d)
    assert sum(placed_by_tenant(d, snap).values()) == 12
    # every job goes to the fastest model with room: the 4 A100s are taken before any V100
    assert sorted(p.accelerator for p in d.placements).count("A100") == 4
    # each job goes to the lowest weighted share, in CU (A100 2, V100 1; 16 CU/s in all; ties by
    # tenant id): x A100, y 3 x A100, x V100, y 3 x V100, x V100, y 3 x V100, so y (weight 3) holds
    # 12 of the 16 CU/s: exactly its weighted share
    assert placed_by_tenant(d, snap) == {"x": 3, "y": 9}
    tenant = {j.id: j.spec.tenant for j in snap.jobs}
    assert sum({"A100": 2, "V100": 1}[p.accelerator] for p in d.placements if tenant[p.job_id] == "y") == 12


def test_fair_share_preemption_takes_the_least_work_lost_after_the_minimum_runtime() -> None:
    now = 10_000.0
    # x holds all 4 devices; two of its jobs checkpointed recently, one never, one is too young to stop
    running = [
        view(job("x-ckpt-old", tenant="x", checkpoint_interval_s=3000.0), ("s", "A100"), as_of=0.0),  # last checkpoint at 9000: loses 1000 s
        view(job("x-ckpt-new", tenant="x", checkpoint_interval_s=1000.0), ("s", "A100"), as_of=0.0),  # checkpoint at 10000: loses 0 s
        view(job("x-none", tenant="x"), ("s", "A100"), as_of=0.0),  # never checkpointed: loses 10000 s
        view(job("x-young", tenant="x"), ("s", "A100"), as_of=now - 60.0),  # under the 600 s minimum runtime
    ]
    snap = snapshot([site("s", A100=4)], [*running, view(job("y0", tenant="y", n=2, arrival=now))], RATES, now=now, tenants=[Tenant("x"), Tenant("y")])
    d = schedule(snap, POLICY)
    check_gangs(snap, d)
    assert set(d.preemptions) == {"x-ckpt-new", "x-ckpt-old"}
    assert [p.job_id for p in d.placements] == ["y0"]
    assert d.preempted_why["x-ckpt-old"].startswith("fair-share: tenant y at 0.500 <= tenant x at 0.500")
    assert "lost 1000 device-s" in d.preempted_why["x-ckpt-old"] and "lost 0 device-s" in d.preempted_why["x-ckpt-new"]


def test_no_preemption_when_the_swap_would_leave_the_preemptor_above_the_victim() -> None:
    now = 10_000.0
    # x holds 2 of 4, y holds 2; y wants 2 more: afterwards y would have 4 and x 0: not allowed
    running = [view(job(f"x{i}", tenant="x"), ("s", "A100"), as_of=0.0) for i in range(2)] + [
        view(job(f"y{i}", tenant="y"), ("s", "A100"), as_of=0.0) for i in range(2)
    ]
    snap = snapshot([site("s", A100=4)], [*running, view(job("y9", tenant="y", n=2, arrival=now))], RATES, now=now, tenants=[Tenant("x"), Tenant("y")])
    d = schedule(snap, POLICY)
    assert d.preemptions == () and d.placements == ()
    assert d.waiting["y9"].startswith("capacity: wants 2 devices")


def test_priority_preempts_within_the_tenant_only() -> None:
    now = 10_000.0
    running = [
        view(job("x-low", tenant="x", priority_weight=1.0), ("s", "A100"), as_of=0.0),
        view(job("z-low", tenant="z", priority_weight=0.5), ("s", "A100"), as_of=0.0),
    ]
    urgent = view(job("x-high", tenant="x", priority_weight=5.0, arrival=now))
    snap = snapshot([site("s", A100=2)], [*running, urgent], RATES, now=now, tenants=[Tenant("x"), Tenant("z")])
    d = schedule(snap, POLICY)
    assert d.preemptions == ("x-low",)  # z's job has a lower priority, but priority does not cross tenants
    assert d.preempted_why["x-low"].startswith("priority: 1 < 5 within tenant x")


@pytest.mark.parametrize("policy", ["fair-share", "fifo", "gavel-las", "convergent"])
def test_a_held_tenant_is_not_admitted_and_says_why(policy: str) -> None:
    # schedule() applies holds (a budget) before any policy sees the jobs: x's waiting job stays, its running one runs on
    jobs = [view(job("x0", tenant="x")), view(job("y0", tenant="y", arrival=1.0)), view(job("x-run", tenant="x"), ("s", "A100"), as_of=0.0)]
    snap = snapshot([site("s", A100=4)], jobs, RATES, now=10.0, tenants=[Tenant("x"), Tenant("y")])
    held = replace(snap, holds={"x": "budget: tenant x used 10 of 10 CU this day"})
    d = schedule(held, SchedulerConfig(policy).build())
    assert [p.job_id for p in d.placements if p.job_id != "x-run"] == ["y0"]
    assert "x-run" not in d.preemptions
    assert d.waiting["x0"] == "budget: tenant x used 10 of 10 CU this day"
    assert "x0" in {p.job_id for p in schedule(snap, SchedulerConfig(policy).build()).placements}  # without the hold it is placed


def test_decayed_usage_orders_tenants() -> None:
    # x used 4 A100s for a day, a half-life ago; y never ran: y goes first at equal weights
    jobs = [view(job("x0", tenant="x")), view(job("y0", tenant="y", arrival=5.0))]
    snap = snapshot([site("s", A100=1)], jobs, RATES, now=2 * 86400.0, tenants=[Tenant("x"), Tenant("y")])
    log = (UsageEntry("x", "a", "A100", 4 * 86400.0, 86400.0),)
    with_log = replace(snap, usage_log=log)
    assert [p.job_id for p in schedule(snap, POLICY).placements] == ["x0"]  # no history: arrival decides the tie
    assert [p.job_id for p in schedule(with_log, POLICY).placements] == ["y0"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("xyz"), st.sampled_from((1, 2)), st.floats(0.5, 4.0)), min_size=2, max_size=10),
    st.integers(2, 6),
)
def test_no_two_jobs_preempt_each_other_back_and_forth(rows: list[tuple[str, int, float]], devices: int) -> None:
    policy = SchedulerConfig("fair-share", {"min_runtime_s": 0.0, "max_preemptions": 100}).build()
    tenants = [Tenant("x", 1.0), Tenant("y", 2.0), Tenant("z", 1.0)]
    jobs = [view(job(f"j{i}", n, arrival=float(i), tenant=t, priority_weight=p)) for i, (t, n, p) in enumerate(rows)]
    snap = snapshot([site("s", A100=devices)], jobs, RATES, now=100.0, tenants=tenants)
    pairs: set[tuple[str, str]] = set()  # (preemptor, victim)
    for step in range(6):
        d = schedule(snap, policy)
        check_gangs(snap, d)
        for victim, why in d.preempted_why.items():
            preemptor = why.split("; for ")[1].split(";")[0]
            assert (victim, preemptor) not in pairs, f"{victim} and {preemptor} preempted each other"
            pairs.add((preemptor, victim))
        snap = apply(snap, d, now=100.0 + step + 1)


def test_gavel_lp_with_tenant_share_is_max_min_over_tenants_not_jobs() -> None:
    # 2 devices; tenant x has 10 one-device jobs, y has 1: Gavel's weights give each job 2/11 of a
    # device; with tenant_share x's jobs share x's weight, so y's job gets a whole device
    jobs = [view(job(f"x{i}", tenant="x")) for i in range(10)] + [view(job("y0", tenant="y"))]
    snap = snapshot([site("s", A100=2)], jobs, RATES, tenants=[Tenant("x"), Tenant("y")])

    def time_share(params: dict[str, object]) -> dict[str, float]:
        d = schedule(snap, SchedulerConfig("gavel-las", params).build())
        alloc = d.policy_state.alloc
        out = {"x": 0.0, "y": 0.0}
        for jid, row in alloc.items():
            out[jid[0]] += sum(row.values())
        return out

    faithful = time_share({})
    assert abs(faithful["y"] - 2 / 11) < 1e-6 and abs(faithful["x"] - 20 / 11) < 1e-6
    shared = time_share({"tenant_share": True})
    assert abs(shared["y"] - 1.0) < 1e-6 and abs(shared["x"] - 1.0) < 1e-6


def _team_tree(x_quota: float, x_borrow: float | None) -> TenantTree:
    """org acme (8 CU/s) -> team tx (x_quota, borrowing limit x_borrow) with tenant x, team ty (the rest) with tenant y."""
    return TenantTree(
        (
            TenantNode("acme", NodeKind.ORG, quota_cu_s=8.0),
            TenantNode("tx", NodeKind.TEAM, "acme", quota_cu_s=x_quota, borrowing_limit_cu_s=x_borrow),
            TenantNode("ty", NodeKind.TEAM, "acme", quota_cu_s=8.0 - x_quota),
            TenantNode("x", parent="tx"),
            TenantNode("y", parent="ty"),
        )
    )


@pytest.mark.parametrize(
    ("x_borrow", "placed"),
    [
        (0.0, 2),  # 4 CU/s of quota, 2 CU/s per A100 job, no borrowing: two jobs, however many devices are free
        (2.0, 3),  # borrowing 2 CU/s of y's idle quota: one more
        (None, 4),  # no borrowing limit: up to the org's 8 CU/s, all of y's idle quota
    ],
)
def test_a_quota_caps_a_team_and_borrowing_lends_it_idle_quota(x_borrow: float | None, placed: int) -> None:
    jobs = [view(job(f"x{i}", tenant="x", arrival=float(i))) for i in range(6)]
    snap = replace(snapshot([site("s", A100=8)], jobs, RATES, tenants=[Tenant("x"), Tenant("y")]), tenant_tree=_team_tree(4.0, x_borrow), catalog=NVIDIA)
    d = schedule(snap, POLICY)
    assert len(d.placements) == placed
    waits = {j: why for j, why in d.waiting.items()}
    assert all(why.startswith("quota: tenant x would use 2.0 CU/s more on NVIDIA (1 x A100)") for why in waits.values()), waits
    assert len(waits) == 6 - placed


def test_a_tenant_outside_the_tree_or_a_tree_without_quotas_is_not_capped() -> None:
    jobs = [view(job(f"z{i}", tenant="z", arrival=float(i))) for i in range(3)] + [view(job(f"x{i}", tenant="x", arrival=10.0 + i)) for i in range(3)]
    snap = replace(snapshot([site("s", A100=8)], jobs, RATES, tenants=[Tenant("x"), Tenant("z")]), tenant_tree=_team_tree(2.0, 0.0), catalog=NVIDIA)
    placed = placed_by_tenant(schedule(snap, POLICY), snap)
    assert placed == {"z": 3, "x": 1}  # z has no node in the tree; x's team has 2 CU/s: one A100 job
    flat = TenantTree((TenantNode("x"), TenantNode("z")))
    assert placed_by_tenant(schedule(replace(snap, tenant_tree=flat), POLICY), snap) == {"z": 3, "x": 3}


def test_lent_quota_is_reclaimed_by_preempting_the_borrower() -> None:
    """y borrowed x's idle quota (y runs 4 A100 jobs = 8 CU/s of the org's 8, its own 4); x's job fits
    in x's own 4 CU/s, so it takes one of y's jobs back although A100s are free (the org's quota is not)."""
    running = [view(job(f"y{i}", tenant="y"), ("s", "A100"), as_of=0.0) for i in range(4)]
    x = view(job("x0", tenant="x", arrival=5000.0))
    snap = replace(
        snapshot([site("s", A100=8)], [*running, x], RATES, now=5000.0, tenants=[Tenant("x"), Tenant("y")]), tenant_tree=_team_tree(4.0, None), catalog=NVIDIA
    )
    d = schedule(snap, POLICY)
    assert [p.job_id for p in d.placements] == ["x0"] and len(d.preemptions) == 1 and d.preemptions[0].startswith("y")
    assert d.preempted_why[d.preemptions[0]].startswith("quota: tenant x reclaims its quota on NVIDIA from tenant y, which borrows")
    # y, over its own quota, cannot take it back: its new job waits on quota
    after = apply(snap, d, now=6000.0, arrivals=[job("y9", tenant="y", arrival=5500.0)])
    d2 = schedule(replace(after, tenant_tree=snap.tenant_tree, catalog=NVIDIA), POLICY)
    assert d2.preemptions == () and d2.waiting["y9"].startswith("quota: tenant y")
