"""Allocators for the round mechanism that solve Gavel's max-min fairness LP (see maxmin_lp).

`heterogeneity_aware=True` is Gavel's `max_min_fairness_perf` (gavel-las): real throughputs,
normalised by each job's throughput under an equal share. `False` is Gavel's `max_min_fairness`
(las): every feasible throughput replaced by 1, so the LP equalises weighted time shares (least
attained service, as Gavel formulates Tiresias' LAS).

Weights: a job's weight is its priority_weight times its tenant's weight (feasibility.job_weight).
"""

from __future__ import annotations

from typing import Any

from cpnet.sched.feasibility import job_weight
from cpnet.sched.maxmin_lp import LpClass, SavedBasis, equal_share_throughput, solve_maxmin
from cpnet.sched.rounds import Alloc, Allocator, AllocInput

# jobs with equal keys have identical LP rows: (job type or "", gang, weight, rates, capacity by model)
ClassKey = tuple[str, int, float, tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]


def maxmin_allocator(heterogeneity_aware: bool, second_phase: bool = True) -> Allocator:
    def allocate(inp: AllocInput) -> tuple[Alloc, Any]:
        if not inp.jobs:
            return {}, inp.private
        m = len(inp.jobs)
        members: dict[ClassKey, list[str]] = {}
        proto: dict[ClassKey, tuple[dict[str, float], dict[str, float], int, float]] = {}
        for jv in inp.jobs:
            jp = inp.pools[jv.id]
            if not jp.by_model:
                continue
            n = jv.spec.num_devices
            w = job_weight(jv.spec, inp.snapshot.tenants)
            rates = dict(jp.rate) if heterogeneity_aware else dict.fromkeys(jp.rate, 1.0)
            capf = {k: float(sum(inp.index.sites_inventory(p) for p in pools)) for k, pools in jp.by_model.items()}
            key = (jv.spec.job_type if heterogeneity_aware else "", n, w, tuple(sorted(rates.items())), tuple(sorted(capf.items())))
            members.setdefault(key, []).append(jv.id)
            proto.setdefault(key, (rates, capf, n, w))
        classes = []
        for key in sorted(members, key=repr):
            rates, capf, n, w = proto[key]
            t_eq = equal_share_throughput(rates, inp.capacity, m)
            if t_eq <= 0:
                continue
            coeff = {k: r * n / (w * t_eq) for k, r in rates.items()}
            classes.append(LpClass(repr(key), len(members[key]), n, coeff, capf))
        warm = inp.private if isinstance(inp.private, SavedBasis) else None
        res = solve_maxmin(classes, inp.capacity, warm=warm, second_phase=second_phase)
        alloc: dict[str, dict[str, float]] = {}
        for key, ids in members.items():
            row = res.alloc.get(repr(key), {})
            for j in ids:
                alloc[j] = dict(row)
        return alloc, res.basis if res.basis is not None else warm

    return allocate
