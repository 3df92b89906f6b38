"""`gavel-fifo`: heterogeneity-aware FIFO (Gavel's `fifo_perf`, OSDI'20 baseline).

Rule: at each allocation reset the allocation is rebuilt from scratch in arrival order: each job
takes the model with the highest throughput for it among those with a pool that still has room for
its whole gang (so the oldest jobs hold the fastest devices and may move up as older jobs finish);
the first job that fits nowhere ends the pass ("highest throughput" is read as the profile's model
score, throughput relative to the job's fastest model: the same order). The allocation (1.0 on the
chosen model) is realised by Gavel's round mechanism (cpnet.sched.rounds) with Gavel's FIFO rule that jobs without allocation
are not scheduled; like Gavel, the allocation is recomputed only when the job set changed and at
most every reset_interval_s (1920 s), so devices freed in between stay idle until then.
Params: round_s (360), reset_interval_s (1920), work_conserving (False, Gavel; True: an
improvement that gives devices nobody with an allocation took to zero-priority jobs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cpnet.sched.feasibility import Pool
from cpnet.sched.profile import DEFAULT_PROFILE
from cpnet.sched.registry import register
from cpnet.sched.rounds import Alloc, AllocInput, FreeCounts, RoundPolicy, round_params


def fifo_perf_allocate(inp: AllocInput) -> tuple[Alloc, Any]:
    room = FreeCounts({(s.id, m): c for s in inp.snapshot.sites for m, c in s.inventory.items() if c > 0})
    left = sum(room.values())  # devices left anywhere (the pass ends when none is)
    alloc: dict[str, dict[str, float]] = {}
    for jv in inp.jobs:
        if left <= 0:
            break
        jp = inp.pools[jv.id]
        n = jv.spec.num_devices
        best: tuple[float, str, Pool] | None = None
        score = jp.model_score  # the profile's model score: throughput relative to the job's fastest model
        for m, pools in jp.by_model.items():
            if best is not None and score[m] <= best[0]:
                continue  # cannot beat the best so far: no need to look for room
            p = room.first_fit(pools, n)
            if p is not None:
                best = (score[m], m, p)
        if best is None:
            break
        room[best[2]] -= n
        left -= n
        alloc[jv.id] = {best[1]: 1.0}
    return alloc, None


@register("gavel-fifo", {"round_s": 360.0, "reset_interval_s": 1920.0, "work_conserving": False})
def make_gavel_fifo(params: Mapping[str, Any]) -> RoundPolicy:
    """gavel-fifo = allocator `fifo_perf_allocate` (highest model score with room, arrival order) in
    Gavel's rounds, models fastest first, zero-priority jobs skipped + DEFAULT_PROFILE."""
    rp = round_params(params, fastest_first=True, skip_zero_priority=True)
    return RoundPolicy(rp, fifo_perf_allocate, "gavel-fifo", profile=DEFAULT_PROFILE)
