"""The event loop pops in (time, priority, insertion) order and never goes back in time."""

from __future__ import annotations

import pytest

from cpnet.sim.engine import EventLoop, SimClock, SimulationError


def test_pop_order_is_time_then_priority_then_insertion() -> None:
    loop = EventLoop()
    loop.schedule(5.0, "late")
    loop.schedule(1.0, "b", priority=1)
    loop.schedule(1.0, "a1", priority=0)
    loop.schedule(1.0, "a2", priority=0)
    kinds = [loop.pop()[1] for _ in range(len(loop))]
    assert kinds == ["a1", "a2", "b", "late"]
    assert loop.now_s == 5.0


def test_pop_batch_takes_every_event_at_the_earliest_time_only() -> None:
    loop = EventLoop()
    for t, k in [(2.0, "x"), (1.0, "p"), (1.0, "q"), (3.0, "y")]:
        loop.schedule(t, k)
    assert loop.pop_batch() == [("p", None), ("q", None)]
    assert SimClock(loop).now() == 1.0
    assert loop.pop_batch(until_s=1.5) == []  # next event (2.0) is past the limit
    assert loop.pop_batch(until_s=2.0) == [("x", None)]


def test_scheduling_in_the_past_names_both_times() -> None:
    loop = EventLoop(start_s=10.0)
    with pytest.raises(SimulationError, match=r"t=5\.0 s is before the current simulation time 10\.0 s"):
        loop.schedule(5.0, "old")
    with pytest.raises(SimulationError):
        loop.advance(9.0)
