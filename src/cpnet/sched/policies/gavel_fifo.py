"""`gavel-fifo`: heterogeneity-aware FIFO (Gavel's `fifo_perf`, OSDI'20 baseline).

Rule: at each allocation reset the allocation is rebuilt from scratch in arrival order: each job
takes the model with the highest throughput for it among those with a pool that still has room for
its whole gang (so the oldest jobs hold the fastest devices and may move up as older jobs finish);
the first job that fits nowhere ends the pass ("highest throughput" is read as the profile's model
score, throughput relative to the job's fastest model: the same order). The allocation (1.0 on the
chosen model) is realised by Gavel's round mechanism (cpnet.sched.rounds) with Gavel's FIFO rule that jobs without allocation
are not scheduled; like Gavel, the allocation is recomputed only when the job set changed and at
most every reset_interval_s (1920 s), so devices freed in between stay idle until then.
Params: round_s (360), reset_interval_s (1920).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cpnet.sched.profile import DEFAULT_PROFILE
from cpnet.sched.registry import register
from cpnet.sched.rounds import Alloc, AllocInput, RoundPolicy, round_params


def fifo_perf_allocate(inp: AllocInput) -> tuple[Alloc, Any]:
    room = {(s.id, m): c for s in inp.snapshot.sites for m, c in s.inventory.items() if c > 0}
    alloc: dict[str, dict[str, float]] = {}
    for jv in inp.jobs:
        if not any(v > 0 for v in room.values()):
            break
        jp = inp.pools[jv.id]
        n = jv.spec.num_devices
        best: tuple[float, str] | None = None
        score = jp.model_score  # the profile's model score: throughput relative to the job's fastest model
        for m, pools in jp.by_model.items():
            if any(room[p] >= n for p in pools) and (best is None or score[m] > best[0]):
                best = (score[m], m)
        if best is None:
            break
        pool = next(p for p in jp.by_model[best[1]] if room[p] >= n)
        room[pool] -= n
        alloc[jv.id] = {best[1]: 1.0}
    return alloc, None


@register("gavel-fifo", {"round_s": 360.0, "reset_interval_s": 1920.0})
def make_gavel_fifo(params: Mapping[str, Any]) -> RoundPolicy:
    """gavel-fifo = allocator `fifo_perf_allocate` (highest model score with room, arrival order) in
    Gavel's rounds, models fastest first, zero-priority jobs skipped + DEFAULT_PROFILE."""
    rp = round_params(params, fastest_first=True, skip_zero_priority=True)
    return RoundPolicy(rp, fifo_perf_allocate, "gavel-fifo", profile=DEFAULT_PROFILE)
