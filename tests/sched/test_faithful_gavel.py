"""Faithful Gavel (the registered defaults) against the named improvements, on literal snapshots.

Gavel's rules checked here (stanford-futuredata/gavel, scheduler/scheduler.py and
policies/max_min_fairness.py): a job without an allocation is selected in the greedy walk but given
no workers (`work_conserving=False`); the max-min LP is solved alone (`second_phase=False`); LAS
replaces every throughput by 1 on every worker type, so every job's equal share is over all devices.
"""

import pytest

from cpnet.core.errors import UnknownNameError
from cpnet.sched.feasibility import NetworkIndex
from cpnet.sched.registry import make_policy, policy_params
from cpnet.sched.rounds import RoundState
from sched_builders import apply, check_gangs, job, site, snapshot, view

RATES = {("a", "V100"): 4.0, ("a", "K80"): 1.0, ("b", "V100"): 1.0, ("b", "K80"): 1.0}


@pytest.mark.parametrize("name", ["las", "gavel-las"])
def test_lp_policies_default_to_gavels_rules(name):
    params = policy_params(name)
    assert params["second_phase"] is False and params["work_conserving"] is False
    assert make_policy(name).params.work_conserving is False  # type: ignore[attr-defined]
    assert make_policy(name, {"work_conserving": True}).params.work_conserving is True  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["fifo", "gavel-fifo"])
def test_fifo_policies_default_to_gavels_rules(name):
    assert policy_params(name)["work_conserving"] is False
    with pytest.raises(UnknownNameError, match="work_conserving"):
        make_policy(name, {"second_phase": True})  # no LP: not a parameter of theirs


def test_boolean_params_must_be_booleans():
    assert make_policy("las", {"work_conserving": "true"}).params.work_conserving is True  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="work_conserving"):
        make_policy("las", {"work_conserving": "maybe"})


def _arrival_between_resets(policy):
    # job x runs alone on one of two K80s; y arrives one round later, before the next reset, so it
    # has no allocation (priority 0) until then
    snap = snapshot([site("s", K80=2)], [view(job("x", job_type="b", arrival=0))], RATES)
    d = policy.decide(snap)
    assert [p.job_id for p in d.placements] == ["x"]
    nxt = apply(snap, d, now=360.0, arrivals=[job("y", job_type="b", arrival=300.0)])
    d2 = policy.decide(nxt)
    check_gangs(nxt, d2)
    assert "y" not in d2.policy_state.alloc
    return d2


@pytest.mark.parametrize("name", ["las", "gavel-las"])
def test_job_without_allocation_idles_until_the_reset_under_gavels_rule(name):
    d = _arrival_between_resets(make_policy(name))
    assert d.placements == () and d.preemptions == ()


@pytest.mark.parametrize("name", ["las", "gavel-las"])
def test_work_conserving_places_it_on_the_spare_device(name):
    d = _arrival_between_resets(make_policy(name, {"work_conserving": True}))
    assert [(p.job_id, p.accelerator) for p in d.placements] == [("y", "K80")]


def _state(snap, alloc):
    # a reset just happened (not due again), with `alloc`; every job's time accounting starts now
    times = {j.id: {"K80": 180.0} for j in snap.jobs}
    return RoundState(
        index=NetworkIndex.build(snap),
        last_now_s=0.0,
        last_reset_s=0.0,
        need_update=False,
        alloc=alloc,
        job_time=times,
        worker_time={"K80": 180.0 * len(times)},
    )


def test_gavel_counts_the_idle_jobs_gang_against_the_model():
    # one K80; "new" has no allocation, "zero" has one that is 0 on K80. Both have priority 0 and
    # "new" sorts first (same deficit and allocation, earlier arrival): Gavel selects it, which
    # uses up the K80's worker count, then gives it no worker, so the K80 idles for the round.
    jobs = [view(job("new", job_type="b", arrival=0)), view(job("zero", job_type="b", arrival=1))]
    snap = snapshot([site("s", K80=1)], jobs, RATES)
    snap = snapshot([site("s", K80=1)], jobs, RATES, state=_state(snap, {"zero": {}}))
    assert make_policy("las").decide(snap).placements == ()
    d = make_policy("las", {"work_conserving": True}).decide(snap)
    assert [p.job_id for p in d.placements] == ["new"]


def test_gavel_schedules_a_job_whose_allocation_is_zero_on_spare_devices():
    # in the allocation, even at 0: Gavel assigns it workers left over
    jobs = [view(job("zero", job_type="b", arrival=1))]
    snap = snapshot([site("s", K80=1)], jobs, RATES)
    snap = snapshot([site("s", K80=1)], jobs, RATES, state=_state(snap, {"zero": {}}))
    assert [p.job_id for p in make_policy("las").decide(snap).placements] == ["zero"]


def test_second_phase_moves_the_slack_to_throughput():
    # one V100, one K80; job a runs 4x faster on V100, job b equally on both. Max-min t = 1 for any
    # V100 share of a in [0.5, 1]; the second phase picks a -> V100 only, b -> K80 only.
    jobs = [view(job("b", job_type="b", arrival=0)), view(job("a", job_type="a", arrival=1))]
    snap = snapshot([site("s", V100=1, K80=1)], jobs, RATES)
    on = make_policy("gavel-las", {"second_phase": True}).decide(snap)
    assert on.policy_state.alloc == {"a": pytest.approx({"V100": 1.0}), "b": pytest.approx({"K80": 1.0})}
    off = make_policy("gavel-las").decide(snap).policy_state.alloc
    a_norm = (4.0 * off["a"].get("V100", 0.0) + off["a"].get("K80", 0.0)) / 2.5  # T_eq(a) = 2.5
    b_norm = off["b"].get("V100", 0.0) + off["b"].get("K80", 0.0)  # T_eq(b) = 1
    assert min(a_norm, b_norm) == pytest.approx(1.0, abs=1e-6)
    assert 0.5 - 1e-6 <= off["a"].get("V100", 0.0) <= 1.0 + 1e-6


def test_las_equal_share_is_over_all_devices_for_a_restricted_job():
    # one K80, one V100; k may use K80 only, u and v anything. Gavel's LAS (throughput 1 on every
    # model) gives every job the same normaliser T_eq = 2 devices / 3 jobs, so max-min equalises time:
    # k = 2/3 of the K80, u and v 1/3 of the K80 plus 1/2 of the V100 each, i.e. 2/3 of the time.
    # (Normalising k by the K80s alone, T_eq(k) = 1/3, would give k 0.4 and u, v 0.8.)
    jobs = [
        view(job("k", job_type="b", arrival=0, accelerators=frozenset({"K80"}))),
        view(job("u", job_type="b", arrival=1)),
        view(job("v", job_type="b", arrival=2)),
    ]
    snap = snapshot([site("s", V100=1, K80=1)], jobs, RATES)
    for second_phase in (False, True):
        alloc = make_policy("las", {"second_phase": second_phase}).decide(snap).policy_state.alloc
        shares = {j: sum(row.values()) for j, row in alloc.items()}
        assert shares == pytest.approx({"k": 2 / 3, "u": 2 / 3, "v": 2 / 3}, abs=1e-6)
        assert set(alloc["k"]) <= {"K80"}


def test_las_equal_share_two_jobs():
    # two jobs on one K80 + one V100 with the K80-only job: each is entitled to one device's time
    jobs = [view(job("k", job_type="b", arrival=0, accelerators=frozenset({"K80"}))), view(job("u", job_type="b", arrival=1))]
    snap = snapshot([site("s", V100=1, K80=1)], jobs, RATES)
    alloc = make_policy("las").decide(snap).policy_state.alloc
    assert {j: sum(r.values()) for j, r in alloc.items()} == pytest.approx({"k": 1.0, "u": 1.0}, abs=1e-6)
    assert alloc["k"] == pytest.approx({"K80": 1.0})
