"""Fair share: half-life decay, DRF over two families, Fair Tree order, per-tenant interleaving and job weights."""

from __future__ import annotations

import math

import pytest

from cpnet.core.errors import UnknownNameError
from cpnet.core.tenancy import NodeKind, TenantNode, TenantTree
from cpnet.sched.fairshare import (
    DEFAULT_HALF_LIFE_S,
    DecayedUsage,
    ShareInputs,
    TenantJob,
    admission_order,
    decay_factor,
    decayed_sum,
    dominant_share,
    effective_weights,
    share_keys,
    tenant_job_weights,
    tenant_order,
)

DAY = 86_400.0
WEEK = 7 * DAY
NV, HW = "NVIDIA", "Huawei"
CAP = {NV: 100.0, HW: 50.0}


def test_default_half_life_is_slurms_seven_days() -> None:
    assert DEFAULT_HALF_LIFE_S == WEEK


@pytest.mark.parametrize(
    ("samples", "now", "half_life", "expected"),
    [
        ([(0.0, 100.0)], WEEK, WEEK, 50.0),  # 100 a week ago counts 50
        ([(0.0, 100.0)], 2 * WEEK, WEEK, 25.0),
        ([(0.0, 100.0), (WEEK, 100.0)], WEEK, WEEK, 150.0),
        ([(0.0, 100.0)], 3 * DAY, DAY, 12.5),
        ([(0.0, 80.0)], 0.0, DAY, 80.0),  # just used: counts in full
        ([], WEEK, WEEK, 0.0),
    ],
)
def test_decayed_sum(samples: list[tuple[float, float]], now: float, half_life: float, expected: float) -> None:
    assert decayed_sum(samples, now, half_life) == pytest.approx(expected)


def test_incremental_update_is_the_decayed_sum() -> None:
    # U' = U 2^(-dt/H) + u: 100 at 0; 100/2 + 40 = 90 at one week; 45 at two weeks
    u = DecayedUsage().plus(0.0, {NV: 100.0}, WEEK).plus(WEEK, {NV: 40.0}, WEEK)
    assert u.cu == {NV: 90.0}
    assert u.at(2 * WEEK, WEEK).cu == {NV: pytest.approx(45.0)}
    assert u.at(2 * WEEK, WEEK).cu[NV] == pytest.approx(decayed_sum([(0.0, 100.0), (WEEK, 40.0)], 2 * WEEK, WEEK))


def test_rate_form_is_kueues_average_for_steady_use() -> None:
    # 10 CU/s sampled every minute for ten half-lives: U ln2 / H -> 10 CU/s (within the step's error)
    u = DecayedUsage()
    for i in range(1, int(10 * DAY / 60) + 1):
        u = u.plus(i * 60.0, {NV: 600.0}, DAY)
    assert u.rate_cu_s(DAY)[NV] == pytest.approx(10.0 * (1 - 2**-10), rel=1e-3)


@pytest.mark.parametrize("half_life", [0.0, -1.0, math.inf, math.nan])
def test_half_life_must_be_finite_and_positive(half_life: float) -> None:
    with pytest.raises(ValueError, match="half-life"):
        decay_factor(1.0, half_life)


def test_time_runs_forward() -> None:
    with pytest.raises(ValueError, match="forward"):
        decay_factor(-1.0, DAY)


@pytest.mark.parametrize(
    ("use", "expected"),
    [
        ({NV: 30.0, HW: 5.0}, 0.3),  # 0.3 and 0.1: NVIDIA dominates
        ({NV: 10.0, HW: 20.0}, 0.4),  # 0.1 and 0.4: Huawei dominates
        ({}, 0.0),
        ({"Intel": 9.0}, 0.0),  # a family without capacity is skipped
    ],
)
def test_dominant_share(use: dict[str, float], expected: float) -> None:
    assert dominant_share(use, CAP) == pytest.approx(expected)


def flat(*weights: tuple[str, float]) -> TenantTree:
    return TenantTree(tuple(TenantNode(i, weight=w) for i, w in weights))


@pytest.mark.parametrize(
    ("weights", "current", "historic_rate", "order"),
    [
        # DRF over two families: a's dominant 0.3 (NVIDIA) < b's 0.4 (Huawei)
        ({"a": 1.0, "b": 1.0}, {"a": {NV: 30.0, HW: 5.0}, "b": {NV: 10.0, HW: 20.0}}, {}, ["a", "b"]),
        # weighted: b's 0.4 / 2 = 0.2 < a's 0.3
        ({"a": 1.0, "b": 2.0}, {"a": {NV: 30.0, HW: 5.0}, "b": {NV: 10.0, HW: 20.0}}, {}, ["b", "a"]),
        # memory: a runs nothing now but averaged 20 CU/s of NVIDIA (0.2) > b's present 0.1
        ({"a": 1.0, "b": 1.0}, {"b": {NV: 10.0}}, {"a": {NV: 20.0}}, ["b", "a"]),
        # present and past add up: a 0.05 + 0.1 = 0.15 > b 0.12
        ({"a": 1.0, "b": 1.0}, {"a": {NV: 5.0}, "b": {NV: 12.0}}, {"a": {NV: 10.0}}, ["b", "a"]),
        # ties: the larger weight, then the id
        ({"b": 1.0, "a": 1.0, "c": 3.0}, {}, {}, ["c", "a", "b"]),
    ],
)
def test_tenant_order_flat(
    weights: dict[str, float], current: dict[str, dict[str, float]], historic_rate: dict[str, dict[str, float]], order: list[str]
) -> None:
    historic = {t: DecayedUsage(0.0, {f: r * WEEK / math.log(2) for f, r in by.items()}) for t, by in historic_rate.items()}
    inputs = ShareInputs(flat(*weights.items()), CAP, now_s=0.0, current_cu_s=current, historic=historic, half_life_s=WEEK)
    assert tenant_order(inputs) == order


def test_historic_usage_decays_to_now() -> None:
    # 20 CU/s-equivalent recorded a week ago counts 10 CU/s now: 0.1 < b's 0.15
    historic = {"a": DecayedUsage(0.0, {NV: 20.0 * WEEK / math.log(2)})}
    inputs = ShareInputs(flat(("a", 1.0), ("b", 1.0)), CAP, now_s=WEEK, current_cu_s={"b": {NV: 15.0}}, historic=historic, half_life_s=WEEK)
    assert share_keys(inputs)["a"] == pytest.approx(0.1)
    assert tenant_order(inputs) == ["a", "b"]


# Two orgs of weight 1: x (x1 idle, x2 at 80) and y (y1 at 30). Flat DRF: x1, y1, x2. Fair Tree compares
# the orgs first (x 0.8 > y 0.3), so y1 goes before x's tenants.
TREE = TenantTree(
    (
        TenantNode("x", NodeKind.ORG),
        TenantNode("x1", parent="x"),
        TenantNode("x2", parent="x", weight=3.0),
        TenantNode("y", NodeKind.ORG),
        TenantNode("y1", parent="y"),
    )
)


def test_hierarchical_order_compares_siblings_level_by_level() -> None:
    inputs = ShareInputs(TREE, {NV: 100.0}, current_cu_s={"x2": {NV: 80.0}, "y1": {NV: 30.0}})
    keys = share_keys(inputs)
    assert (keys["x"], keys["y"], keys["x1"], keys["x2"]) == pytest.approx((0.8, 0.3, 0.0, 0.8 / 3))
    assert tenant_order(inputs) == ["y1", "x1", "x2"]
    # with the org's weight doubled, x's 0.8 / 2 = 0.4 still loses to y's 0.3
    heavy = TenantTree(tuple(TenantNode("x", NodeKind.ORG, weight=2.0) if n.id == "x" else n for n in TREE))
    assert tenant_order(ShareInputs(heavy, {NV: 100.0}, current_cu_s={"x2": {NV: 80.0}, "y1": {NV: 30.0}})) == ["y1", "x1", "x2"]


def job(i: str, tenant: str, priority: float = 1.0, arrival: float = 0.0, cu: float = 10.0) -> TenantJob:
    return TenantJob(i, tenant, priority, arrival, {NV: cu})


@pytest.mark.parametrize(
    ("weights", "jobs", "order"),
    [
        # a has three jobs, b one that came later: b gets its turn after a's first (one share per tenant, not per job)
        ({"a": 1.0, "b": 1.0}, [job("a1", "a"), job("a2", "a", arrival=1), job("a3", "a", arrival=2), job("b1", "b", arrival=5)], ["a1", "b1", "a2", "a3"]),
        # within a tenant: priority first, then arrival
        ({"a": 1.0}, [job("a0", "a", arrival=0), job("hi", "a", priority=5, arrival=1), job("a2", "a", arrival=2)], ["hi", "a0", "a2"]),
        # b of weight 3 takes three turns per turn of a (ties: the larger weight): b, a, b, b, b, then a's rest
        (
            {"a": 1.0, "b": 3.0},
            [job(f"a{k}", "a", arrival=k) for k in range(4)] + [job(f"b{k}", "b", arrival=k) for k in range(4)],
            ["b0", "a0", "b1", "b2", "b3", "a1", "a2", "a3"],
        ),
        # a big job counts for more: after a's 40 CU/s job, b's two 10 CU/s jobs go first
        (
            {"a": 1.0, "b": 1.0},
            [job("big", "a", cu=40.0), job("a2", "a", arrival=1), job("b1", "b", arrival=2), job("b2", "b", arrival=3)],
            ["big", "b1", "b2", "a2"],
        ),
    ],
)
def test_admission_order(weights: dict[str, float], jobs: list[TenantJob], order: list[str]) -> None:
    inputs = ShareInputs(flat(*weights.items()), {NV: 100.0})
    assert [j.id for j in admission_order(jobs, inputs)] == order


def test_admission_order_follows_the_tree() -> None:
    # y1 runs 15 (y: 0.15). Fair Tree: x2a (x 0 < y; x2's weight 3 wins the tie in x), x1a (x 0.1), then y1a as
    # x reaches 0.2 > 0.15, then x1's rest. Flat DRF would run x1b before y1a (x1's 0.1 < y1's 0.15).
    inputs = ShareInputs(TREE, {NV: 100.0}, current_cu_s={"y1": {NV: 15.0}})
    jobs = [job("x1a", "x1"), job("x1b", "x1", arrival=1), job("x1c", "x1", arrival=2), job("x2a", "x2"), job("y1a", "y1")]
    assert [j.id for j in admission_order(jobs, inputs)] == ["x2a", "x1a", "y1a", "x1b", "x1c"]


def test_admission_order_refuses_unknown_tenants() -> None:
    with pytest.raises(UnknownNameError):
        admission_order([job("j", "x")], ShareInputs(TREE, {NV: 100.0}))  # x is an org


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        (["x1", "x2", "y1"], {"x1": 0.125, "x2": 0.375, "y1": 0.5}),  # orgs halve; x splits 1:3
        (["x1", "y1"], {"x1": 0.5, "y1": 0.5}),  # an idle sibling's weight goes to the active ones
        (["x2"], {"x2": 1.0}),
    ],
)
def test_effective_weights(active: list[str], expected: dict[str, float]) -> None:
    assert effective_weights(TREE, active) == pytest.approx(expected)


def test_tenant_job_weights_split_the_tenant_weight_by_priority() -> None:
    jobs = [TenantJob("a1", "a"), TenantJob("a2", "a"), TenantJob("a3", "a", priority=2.0), TenantJob("b1", "b")]
    assert tenant_job_weights(jobs, {"a": 2.0, "b": 1.0}) == pytest.approx({"a1": 0.5, "a2": 0.5, "a3": 1.0, "b1": 1.0})


def test_tenant_job_weights_refuse_unknown_tenants_and_bad_priorities() -> None:
    with pytest.raises(UnknownNameError):
        tenant_job_weights([TenantJob("j", "zed")], {"a": 1.0})
    with pytest.raises(ValueError, match="priority"):
        tenant_job_weights([TenantJob("j", "a", priority=0.0)], {"a": 1.0})
