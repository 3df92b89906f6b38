"""Victim choice: least work lost first, minimum runtime, preemption limit, no needless victims."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpnet.sched.victims import Candidate, VictimRules, choose_victims, total_lost_device_s, victim_order

NOW = 10_000.0
RULES = VictimRules(min_runtime_s=600.0, max_preemptions=3)


def cand(
    job_id: str, devices: int = 1, started_s: float = 0.0, checkpoint_s: float | None = None, priority: float = 1.0, preemptions: int = 0, spot: bool = False
) -> Candidate:
    return Candidate(job_id, "t", priority, devices, started_s, checkpoint_s, preemptions, spot)


@pytest.mark.parametrize(
    ("c", "lost_s"),
    [
        (cand("a", started_s=4000.0), 6000.0),  # never checkpointed: all since start
        (cand("b", started_s=4000.0, checkpoint_s=9000.0), 1000.0),  # since the checkpoint
        (cand("c", started_s=8000.0, checkpoint_s=5000.0), 2000.0),  # a checkpoint of an earlier attempt does not count
    ],
)
def test_work_lost_is_since_the_last_checkpoint_of_this_attempt(c: Candidate, lost_s: float) -> None:
    assert c.lost_s(NOW) == lost_s
    assert c.lost_device_s(NOW) == lost_s * c.devices


def test_order_is_least_loss_then_lowest_priority_then_newest() -> None:
    jobs = [
        cand("big-loss", started_s=0.0),
        cand("checkpointed", started_s=0.0, checkpoint_s=9900.0),  # loses 100 s
        cand("hi", started_s=9000.0, priority=5.0),  # loses 1000 s
        cand("lo", started_s=9000.0, priority=1.0),  # loses 1000 s, lower priority
        cand("two-dev", devices=2, started_s=9500.0),  # loses 2 x 500 device-s, as lo, but started later
    ]
    assert [c.job_id for c in victim_order(jobs, NOW)] == ["checkpointed", "two-dev", "lo", "hi", "big-loss"]
    # a job submitted as preemptible (spot-like) goes first, however much it would lose
    spot = cand("spot", started_s=0.0, spot=True)
    assert [c.job_id for c in victim_order([*jobs, spot], NOW)][:2] == ["spot", "checkpointed"]
    got = choose_victims(1, 0, [*jobs, spot], NOW, RULES)
    assert got is not None and [v.job_id for v in got] == ["spot"]


@pytest.mark.parametrize(
    ("c", "why"),
    [
        (cand("young", started_s=NOW - 599.0), "minimum runtime"),
        (cand("tired", preemptions=3), "preempted 3 times"),
        (cand("ok", started_s=NOW - 600.0, preemptions=2), None),
    ],
)
def test_protection(c: Candidate, why: str | None) -> None:
    got = RULES.protected(c, NOW)
    if why is None:
        assert got is None
    else:
        assert got is not None and why in got


def test_chooses_the_cheapest_set_that_makes_room_and_no_more() -> None:
    jobs = [cand("a", 4, checkpoint_s=9990.0), cand("b", 2, checkpoint_s=9000.0), cand("c", 1, checkpoint_s=9999.0), cand("young", 8, started_s=NOW - 10)]
    # need 4 with 1 free: c (lost 1 device-s) then a (40) give 1 + 1 + 4 = 6 >= 4; c is then not needed (6 - 1 = 5 >= 4)
    got = choose_victims(4, 1, jobs, NOW, RULES)
    assert got is not None and [v.job_id for v in got] == ["a"]
    assert total_lost_device_s(got, NOW) == 40.0


def test_no_victims_when_room_exists_and_none_when_room_cannot_be_made() -> None:
    assert choose_victims(2, 2, [cand("a")], NOW, RULES) == []
    assert choose_victims(8, 0, [cand("a", 4), cand("young", 8, started_s=NOW - 1)], NOW, RULES) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 8), st.floats(0, NOW), st.one_of(st.none(), st.floats(0, NOW)), st.integers(0, 4)), max_size=8),
    st.integers(1, 16),
    st.integers(0, 4),
)
def test_victims_make_room_minimally_and_never_touch_protected_jobs(rows: list[tuple[int, float, float | None, int]], need: int, free: int) -> None:
    jobs = [cand(f"j{i}", d, s, c, preemptions=p) for i, (d, s, c, p) in enumerate(rows)]
    got = choose_victims(need, free, jobs, NOW, RULES)
    usable = [j for j in jobs if RULES.protected(j, NOW) is None]
    if got is None:
        assert free + sum(j.devices for j in usable) < need
        return
    assert all(RULES.protected(v, NOW) is None for v in got)
    room = free + sum(v.devices for v in got)
    assert room >= need
    assert all(room - v.devices < need for v in got)  # each victim is needed
