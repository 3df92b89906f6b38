"""`gavel-las`: heterogeneity-aware max-min fairness (Gavel, OSDI'20 §4.1, `max_min_fairness_perf`).

Rule: maximise the minimum over jobs of effective throughput sum_k T[j,k] x[j,k], normalised by the
job's throughput under an equal share of the cluster and divided by its weight (priority weight x
tenant weight), as an LP solved with HiGHS (cpnet.sched.maxmin_lp: Gavel's LP, warm-started from
the previous basis, recomputed only when the job set changed and at most every reset_interval_s);
realised by Gavel's round-based mechanism (cpnet.sched.rounds: 360 s rounds, priority = allocation
/ fraction of time received, ties by deficit, models fastest first, whole gangs at one pool).
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


@register("gavel-las", {"round_s": 360.0, "reset_interval_s": 1920.0, "second_phase": False, "work_conserving": False, "tenant_share": False})
def make_gavel_las(params: Mapping[str, Any]) -> RoundPolicy:
    """gavel-las = allocator `maxmin_allocator(heterogeneity_aware=True)` in Gavel's rounds (models
    fastest first) + DEFAULT_PROFILE's filters and scores."""
    allocate = maxmin_allocator(True, bool_param(params["second_phase"], "second_phase"), bool_param(params["tenant_share"], "tenant_share"))
    return RoundPolicy(round_params(params, fastest_first=True), allocate, "gavel-las", profile=DEFAULT_PROFILE)
