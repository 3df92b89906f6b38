"""Which running jobs to preempt: least work lost first, never before a minimum runtime.

Work lost. A job that is stopped loses what it did since its last checkpoint in this attempt (the
checkpoint protocol: the job writes into $CPNET_CHECKPOINT_DIR and the executor reports the time of
the newest write), or since the attempt started when it never checkpointed:

    lost_s(j) = now - max(started_s(j), checkpoint_s(j)),   lost_device_s(j) = lost_s(j) x devices(j)

Victim order (Volcano's checkpoint-aware order, after Kueue's candidate order): ascending
(not preemptible, lost_device_s, priority, -started_s, job id): jobs submitted as preemptible
(spot-like, billed at a discount) first, then the least work lost, then the lowest priority, then
the most recently started. Victims are taken in that order from the pool the preemptor needs until
it has room, then every victim not needed for the room is given back (Kueue's second pass), so no
job is stopped for nothing.

Protected jobs are never victims: a job that has run less than `min_runtime_s` in this attempt (the
minimum runtime before preemption Kueue users have asked for since 2022) or that was already
preempted `max_preemptions` times (so no job starves by being stopped over and over).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """A running job as the victim choice sees it."""

    job_id: str
    tenant: str
    priority: float
    devices: int
    started_s: float  # start of the current attempt
    checkpoint_s: float | None = None  # newest checkpoint of this attempt; None: never checkpointed
    preemptions: int = 0  # times this job was preempted before
    preemptible: bool = False  # submitted as preemptible (spot-like): a victim before any other job

    def lost_s(self, now_s: float) -> float:
        """Seconds of work a stop now would lose (since the last checkpoint, else since the start)."""
        since = self.started_s if self.checkpoint_s is None else max(self.started_s, self.checkpoint_s)
        return max(now_s - since, 0.0)

    def lost_device_s(self, now_s: float) -> float:
        return self.lost_s(now_s) * self.devices


@dataclass(frozen=True, slots=True)
class VictimRules:
    """What protects a running job from preemption."""

    min_runtime_s: float = 600.0
    max_preemptions: int = 3

    def protected(self, c: Candidate, now_s: float) -> str | None:
        """Why `c` may not be preempted now, or None."""
        if now_s - c.started_s < self.min_runtime_s:
            return f"runs less than the minimum runtime ({self.min_runtime_s:g} s)"
        if c.preemptions >= self.max_preemptions:
            return f"already preempted {c.preemptions} times (limit {self.max_preemptions})"
        return None

    def protected_at(self, started_s: float, preemptions: int, now_s: float) -> bool:
        """`protected` as a yes/no, without building a Candidate."""
        return now_s - started_s < self.min_runtime_s or preemptions >= self.max_preemptions


def victim_order(candidates: Iterable[Candidate], now_s: float) -> list[Candidate]:
    """Candidates in victim order: preemptible first, then least work lost, lowest priority, newest start, id."""
    return sorted(candidates, key=lambda c: (not c.preemptible, c.lost_device_s(now_s), c.priority, -c.started_s, c.job_id))


def choose_victims(need: int, free: int, candidates: Sequence[Candidate], now_s: float, rules: VictimRules) -> list[Candidate] | None:
    """The fewest-loss set of `candidates` (all in one pool, `free` devices idle there) whose stop
    gives `need` devices; None when even stopping every unprotected one would not."""
    if need <= free:
        return []
    chosen: list[Candidate] = []
    room = free
    for c in victim_order((c for c in candidates if rules.protected(c, now_s) is None), now_s):
        chosen.append(c)
        room += c.devices
        if room >= need:
            break
    if room < need:
        return None
    # give back, most loss first, every victim the room does not need
    for c in sorted(chosen, key=lambda c: -c.lost_device_s(now_s)):
        if room - c.devices >= need:
            chosen.remove(c)
            room -= c.devices
    return victim_order(chosen, now_s)


def total_lost_device_s(victims: Iterable[Candidate], now_s: float) -> float:
    """Work the victims lose, in device-seconds (reported with every preemption)."""
    return math.fsum(v.lost_device_s(now_s) for v in victims)
