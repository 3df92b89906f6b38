"""Why a waiting job waits after a decision (cpnet.sched.waiting): capacity vs its turn, and the placements taken into account."""

from __future__ import annotations

from cpnet.core.snapshot import Decision, Infeasible, Placement
from cpnet.sched.feasibility import NetworkIndex
from cpnet.sched.runner import SchedulerConfig, schedule
from cpnet.sched.waiting import wait_reasons
from sched_builders import job, site, snapshot, view

RATES = {("a", "A100"): 1.0, ("a", "V100"): 0.5}


def test_capacity_names_the_largest_free_usable_pool() -> None:
    sites = [site("s1", A100=4), site("s2", V100=8)]
    snap = snapshot(sites, [view(job("run", 3), ("s1", "A100")), view(job("big", 4, arrival=1.0))], RATES)
    reasons = wait_reasons(snap, Decision(), NetworkIndex.build(snap), "fifo")
    # V100 at s2 has 8 free, so the 4-gang fits there: the policy chose not to place it
    assert reasons == {"big": "its turn: fifo gave the free devices to other jobs first (8 x V100 free at s2)"}
    pinned = snapshot(sites, [view(job("run", 3), ("s1", "A100")), view(job("big", 4, arrival=1.0, accelerators=frozenset({"A100"})))], RATES)
    assert wait_reasons(pinned, Decision(), NetworkIndex.build(pinned), "fifo") == {
        "big": "capacity: wants 4 devices; the most free in a usable pool is 1 x A100 at s1"
    }


def test_the_decisions_placements_are_taken_before_the_reason() -> None:
    sites = [site("s1", A100=2)]
    snap = snapshot(sites, [view(job("first", 2)), view(job("second", 2, arrival=1.0)), view(job("never", 1, job_type="b", arrival=2.0))], RATES)
    decision = Decision(placements=(Placement("first", "s1", "A100", 2),), infeasible=(Infeasible("never", "no model runs b", False),))
    reasons = wait_reasons(snap, decision, NetworkIndex.build(snap), "fifo")
    assert reasons == {"second": "capacity: wants 2 devices; none free in its 1 usable pool"}  # placed and infeasible jobs get none


def test_a_preempted_jobs_devices_count_as_free() -> None:
    sites = [site("s1", A100=4)]
    snap = snapshot(sites, [view(job("low", 2), ("s1", "A100")), view(job("other", 2), ("s1", "A100")), view(job("third", 2, arrival=2.0))], RATES)
    assert wait_reasons(snap, Decision(), NetworkIndex.build(snap), "las") == {"third": "capacity: wants 2 devices; none free in its 1 usable pool"}
    # a preempted job is still placed in the snapshot (it waits from the next one on); its devices are free
    got = wait_reasons(snap, Decision(preemptions=("low",)), NetworkIndex.build(snap), "las")
    assert got == {"third": "its turn: las gave the free devices to other jobs first (2 x A100 free at s1)"}


def test_reasons_agree_with_a_real_policys_decision() -> None:
    sites = [site("s1", A100=4)]
    jobs = [view(job(f"j{i}", 2, arrival=float(i))) for i in range(4)]
    snap = snapshot(sites, jobs, RATES)
    decision = schedule(snap, SchedulerConfig("fifo"))
    assert sorted(p.job_id for p in decision.placements) == ["j0", "j1"]
    assert wait_reasons(snap, decision, NetworkIndex.build(snap), "fifo") == dict.fromkeys(
        ("j2", "j3"), "capacity: wants 2 devices; none free in its 1 usable pool"
    )
