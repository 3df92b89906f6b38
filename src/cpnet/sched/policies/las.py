"""`las`: least attained service, heterogeneity-agnostic (Tiresias' LAS as Gavel formulates it).

Rule: Gavel's `max_min_fairness` policy, i.e. the max-min fairness LP with every throughput
replaced by 1 (weighted by priority weight x tenant weight and by gang size), so every job is
entitled to an equal weighted share of device time whatever the model (a share of all devices,
also for a job restricted to some models, since Gavel sets the throughput to 1 on every worker
type); realised by Gavel's round-based mechanism (360 s rounds, priority = allocation / fraction of time received, ties by
deficit; models visited in a seeded random order each round, as Gavel shuffles worker types for
agnostic policies). See cpnet.sched.rounds and cpnet.sched.maxmin_lp.
Params: round_s (360), reset_interval_s (1920); improvements over Gavel, off by default (the
faithful setting): second_phase (maximise total throughput at the max-min optimum, maxmin_lp) and
work_conserving (spare devices to jobs without allocation, rounds), tenant_share (a tenant's
jobs share its weight, maxmin_alloc).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cpnet.sched.maxmin_alloc import maxmin_allocator
from cpnet.sched.profile import DEFAULT_PROFILE
from cpnet.sched.registry import register
from cpnet.sched.rounds import RoundPolicy, bool_param, round_params


@register("las", {"round_s": 360.0, "reset_interval_s": 1920.0, "second_phase": False, "work_conserving": False, "tenant_share": False})
def make_las(params: Mapping[str, Any]) -> RoundPolicy:
    """las = allocator `maxmin_allocator(heterogeneity_aware=False)` in Gavel's rounds (models
    in a seeded shuffle) + DEFAULT_PROFILE's filters and scores."""
    allocate = maxmin_allocator(False, bool_param(params["second_phase"], "second_phase"), bool_param(params["tenant_share"], "tenant_share"))
    return RoundPolicy(round_params(params, fastest_first=False), allocate, "las", profile=DEFAULT_PROFILE)
