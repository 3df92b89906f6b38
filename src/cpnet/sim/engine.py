"""A tiny deterministic discrete-event loop (the SimPy ordering, without processes).

Events sit in a heap ordered by `(time_s, priority, seq)`; `seq` comes from `itertools.count()`, so
events with equal time and priority pop in the order they were scheduled and a run never depends on
hashing or object identity. There is no wall clock anywhere: time is whatever the last popped event
says. Cancelling is lazy: the caller keeps a version per subject and drops stale events on pop.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

from cpnet.core.errors import CpnetError


class SimulationError(CpnetError):
    """A bug, not bad input: a policy broke the scheduler contract or the engine's invariants."""


@dataclass(frozen=True, slots=True)
class SimClock:
    """The virtual clock a simulation injects where the live system injects a wall clock."""

    loop: EventLoop

    def now(self) -> float:
        return self.loop.now_s


class EventLoop:
    """A heap of `(time_s, priority, seq, kind, payload)`; lower priority values pop first."""

    __slots__ = ("_heap", "_seq", "now_s")

    def __init__(self, start_s: float = 0.0) -> None:
        self._heap: list[tuple[float, int, int, str, Any]] = []
        self._seq = itertools.count()
        self.now_s = start_s

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, time_s: float, kind: str, payload: Any = None, priority: int = 0) -> None:
        """Schedule an event; it may not lie in the past."""
        if time_s < self.now_s:
            raise SimulationError(f"event '{kind}' at t={time_s!r} s is before the current simulation time {self.now_s!r} s")
        heapq.heappush(self._heap, (time_s, priority, next(self._seq), kind, payload))

    def peek_time(self) -> float | None:
        """Time of the next event, or None when the heap is empty."""
        return self._heap[0][0] if self._heap else None

    def pop(self) -> tuple[float, str, Any]:
        """Remove the next event, advance the clock to it, and return `(time_s, kind, payload)`."""
        time_s, _, _, kind, payload = heapq.heappop(self._heap)
        self.now_s = time_s
        return time_s, kind, payload

    def pop_batch(self, until_s: float | None = None) -> list[tuple[str, Any]]:
        """Pop every event at the earliest pending time (if that time is <= `until_s`)."""
        heap = self._heap
        if not heap or (until_s is not None and heap[0][0] > until_s):
            return []
        time_s = heap[0][0]
        self.now_s = time_s
        out: list[tuple[str, Any]] = []
        while heap and heap[0][0] == time_s:
            _, _, _, kind, payload = heapq.heappop(heap)
            out.append((kind, payload))
        return out

    def advance(self, time_s: float) -> None:
        """Move the clock forward to `time_s` without an event (e.g. to a round boundary)."""
        if time_s < self.now_s:
            raise SimulationError(f"cannot move the clock back from {self.now_s!r} s to {time_s!r} s")
        self.now_s = time_s
