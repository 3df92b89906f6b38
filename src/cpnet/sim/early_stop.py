"""Stop a replay once its answer is known: at least `misses` jobs have waited (or taken) longer than `bound_s`.

A job counts as a miss once its queueing ("queueing": arrival to first start) or its time in the
system ("jct": arrival to finish) passes `bound_s`, whether it has started (finished) or not, so the
count only grows; a capacity plan sets `misses` to the count that makes its target certainly missed.
"""

from __future__ import annotations

from cpnet.sim.hooks import SimEvent, SimState

_CHECK_EVERY = 256  # at most this many events between scans of the jobs still open (a scan walks the oldest only)


class MissWatch:
    """An `on_event` hook (one per run): stops the run when the misses reach `misses`."""

    def __init__(self, metric: str, bound_s: float, misses: int) -> None:
        if metric not in ("queueing", "jct"):
            raise ValueError(f"metric {metric!r}: queueing or jct")
        self.closing = "start" if metric == "queueing" else "finish"
        self.bound_s = bound_s
        self.misses = misses
        self.closed_late = 0  # started (finished) after waiting longer than bound_s
        self.open: dict[str, float] = {}  # job -> arrival, in arrival order
        self.events = 0
        self.every = max(1, min(_CHECK_EVERY, misses // 8))  # a scan costs up to `misses` steps: about one step per event
        self.stopped_s: float | None = None

    def __call__(self, event: SimEvent, state: SimState) -> None:
        kind = event.kind
        if kind == "arrival":
            self.open[event.job_id] = event.time_s
        elif kind == self.closing or kind == "infeasible":
            arrival = self.open.pop(event.job_id, None)
            if arrival is not None and kind != "infeasible" and event.time_s - arrival > self.bound_s:
                self.closed_late += 1
        self.events += 1
        if self.events % self.every or self.stopped_s is not None or self.closed_late + len(self.open) < self.misses:
            return
        late = self.closed_late
        if late < self.misses:
            cutoff = event.time_s - self.bound_s
            for arrival in self.open.values():  # oldest first: stop at the first that is not late yet
                if arrival >= cutoff:
                    break
                late += 1
                if late >= self.misses:
                    break
        if late >= self.misses:
            self.stopped_s = event.time_s
            state.stop()
