import pytest

from cpnet.sched.registry import make_policy
from sched_builders import apply, check_gangs, job, site, snapshot, view

RATES = {("a", "V100"): 3.0, ("a", "P100"): 2.0, ("a", "K80"): 1.0}


def test_fifo_is_strict_and_keeps_gangs_whole():
    # 3 of 4 V100 free; the 4-device job at the head blocks the 1-device job behind it (no backfill)
    jobs = [view(job("old", arrival=0), ("s", "V100")), view(job("big", n=4, arrival=1)), view(job("small", n=1, arrival=2))]
    snap = snapshot([site("s", V100=4)], jobs, RATES)
    d = make_policy("fifo").decide(snap)
    assert d.placements == () and d.infeasible == ()


def test_fifo_starts_in_arrival_order_until_full():
    jobs = [view(job(f"j{i}", n=2, arrival=i)) for i in range(4)]
    snap = snapshot([site("s", V100=2, K80=3)], jobs, RATES)
    d = make_policy("fifo").decide(snap)
    check_gangs(snap, d)
    assert [p.job_id for p in d.placements] == ["j0", "j1"]
    assert sorted(p.accelerator for p in d.placements) == ["K80", "V100"]


def test_fifo_reports_infeasible_and_skips_it():
    jobs = [view(job("huge", n=16, arrival=0)), view(job("ok", arrival=1))]
    snap = snapshot([site("s", K80=4)], jobs, RATES)
    d = make_policy("fifo").decide(snap)
    assert [i.job_id for i in d.infeasible] == ["huge"]
    assert "16" in d.infeasible[0].reason
    assert [p.job_id for p in d.placements] == ["ok"]


def test_fifo_is_agnostic_and_deterministic():
    # across many jobs the agnostic pick lands on slower models too; same snapshot -> same decision
    jobs = [view(job(f"j{i}", arrival=i)) for i in range(30)]
    snap = snapshot([site("s", V100=100, K80=100)], jobs, RATES, seed=7)
    d1 = make_policy("fifo").decide(snap)
    d2 = make_policy("fifo").decide(snap)
    assert d1.placements == d2.placements
    models = {p.accelerator for p in d1.placements}
    assert models == {"V100", "K80"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fifo_incremental_state_matches_full_rescan(seed):
    """Carrying policy_state across calls gives the same placements as rescanning from scratch."""
    sites = [site("s1", V100=2, K80=2), site("s2", P100=3)]
    pending = [job(f"j{i}", n=1 + (i * 7 + seed) % 3, arrival=float(i)) for i in range(40)]
    snap = snapshot(sites, [], RATES)
    fifo = make_policy("fifo")
    t = 0.0
    snap_decision = None
    for step in range(60):
        t += 1.0
        arrivals = [s for s in pending if s.arrival_s < t and s.arrival_s >= t - 1.0]
        running = [j.id for j in snap.jobs if j.placement is not None]
        finished = running[: (step + seed) % 3]  # a couple finish each step, oldest first
        if snap_decision is None:
            snap = snapshot(sites, [view(s) for s in arrivals], RATES, now=t)
        else:
            snap = apply(snap, snap_decision, now=t, finished=finished, arrivals=arrivals)
        snap_decision = fifo.decide(snap)
        fresh = fifo.decide(snapshot(sites, snap.jobs, RATES, now=t, free=snap.free))
        check_gangs(snap, snap_decision)
        assert snap_decision.placements == fresh.placements
        assert snap_decision.infeasible == fresh.infeasible
