"""Allocators for the round mechanism that solve Gavel's max-min fairness LP (see maxmin_lp).

`heterogeneity_aware=True` is Gavel's `max_min_fairness_perf` (gavel-las): real throughputs,
normalised by each job's throughput under an equal share (Gavel's ProportionalPolicy over the
models the job may use). `False` is Gavel's `max_min_fairness` (las): every throughput replaced by
1, so the LP equalises weighted time shares (least attained service, as Gavel formulates Tiresias'
LAS). Gavel sets the throughput to 1 on *every* worker type before the perf policy runs, so the
equal-share normaliser is the same for every job (a share of all devices); here it is too, while a
job's x stays 0 on the models its filters exclude (a K80-only job is entitled to the same time
share as an unrestricted one, and gets it where the K80s allow).

`second_phase` (default False, Gavel's LP): see maxmin_lp.solve_maxmin.
Weights: a job's weight is its priority_weight times its tenant's weight (feasibility.job_weight),
Gavel's rule, so a tenant with 500 jobs holds 500 shares. `tenant_share` (default False, an
improvement): a tenant's jobs share its weight, w_j = W_t p_j / sum_{k of t} p_k
(cpnet.sched.fairshare.tenant_job_weights, as Gavel's hierarchical policies give each entity its
weight), so the LP is max-min over tenants' effective throughput.
"""

from __future__ import annotations

from typing import Any

from cpnet.sched.fairshare import TenantJob, tenant_job_weights
from cpnet.sched.feasibility import JobPools, job_weight
from cpnet.sched.maxmin_lp import LpClass, SavedBasis, equal_share_throughput, solve_maxmin
from cpnet.sched.rounds import Alloc, Allocator, AllocInput

# jobs with equal keys have identical LP rows: (job type or "", gang, weight, rates, capacity by model)
ClassKey = tuple[str, int, float, tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]
_ShapeRow = tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...], dict[str, float], dict[str, float]]


def maxmin_allocator(heterogeneity_aware: bool, second_phase: bool = False, tenant_share: bool = False) -> Allocator:
    """Gavel's max-min fairness (heterogeneity_aware: `max_min_fairness_perf`) as an Allocator."""

    def allocate(inp: AllocInput) -> tuple[Alloc, Any]:
        if not inp.jobs:
            return {}, inp.private
        m = len(inp.jobs)
        split = _tenant_weights(inp) if tenant_share else None
        members: dict[ClassKey, list[str]] = {}
        proto: dict[ClassKey, tuple[dict[str, float], dict[str, float], int, float]] = {}
        # rates and capf depend only on the job's shape (its JobPools, memoised per shape by the
        # index and alive for this call), so they are built once per shape, not once per job
        by_shape: dict[int, _ShapeRow] = {}
        n_pools: dict[str, int] = {}  # model -> pools of it (the capacity sums over)
        for s in inp.snapshot.sites:
            for k, c in s.inventory.items():
                if c > 0:
                    n_pools[k] = n_pools.get(k, 0) + 1
        tenants = inp.snapshot.tenants
        for jv in inp.jobs:
            jp = inp.pools[jv.id]
            row = by_shape.get(id(jp))
            if row is None:
                if not jp.by_model:
                    continue
                row = _shape_row(jp, inp, n_pools, heterogeneity_aware)
                by_shape[id(jp)] = row
            rates_key, capf_key, rates, capf = row
            spec = jv.spec
            n = spec.num_devices
            w = job_weight(spec, tenants) if split is None else split[jv.id]
            key = (spec.job_type if heterogeneity_aware else "", n, w, rates_key, capf_key)
            ids = members.get(key)
            if ids is None:
                members[key] = [jv.id]
                proto[key] = (rates, capf, n, w)
            else:
                ids.append(jv.id)
        # the agnostic normaliser: throughput 1 on every model, an equal share of all devices
        t_all = equal_share_throughput(dict.fromkeys(inp.capacity, 1.0), inp.capacity, m)
        classes = []
        for key in sorted(members, key=repr):
            rates, capf, n, w = proto[key]
            t_eq = equal_share_throughput(rates, inp.capacity, m) if heterogeneity_aware else t_all
            if t_eq <= 0:
                continue
            coeff = {k: r * n / (w * t_eq) for k, r in rates.items()}
            classes.append(LpClass(repr(key), len(members[key]), n, coeff, capf))
        warm = inp.private if isinstance(inp.private, SavedBasis) else None
        res = solve_maxmin(classes, inp.capacity, warm=warm, second_phase=second_phase)
        alloc: dict[str, dict[str, float]] = {}
        for key, ids in members.items():
            row_alloc = res.alloc.get(repr(key), {})
            for j in ids:
                alloc[j] = dict(row_alloc)
        return alloc, res.basis if res.basis is not None else warm

    return allocate


def _tenant_weights(inp: AllocInput) -> dict[str, float]:
    """w_j = W_t p_j / sum_{k of t} p_k over the allocator's jobs (tenant weights 1 when unknown)."""
    tenants = inp.snapshot.tenants
    jobs = [TenantJob(jv.id, jv.spec.tenant, jv.spec.priority_weight) for jv in inp.jobs]
    weights = {j.tenant: float(getattr(tenants.get(j.tenant), "weight", 1.0)) for j in jobs}
    return tenant_job_weights(jobs, weights)


def _shape_row(jp: JobPools, inp: AllocInput, n_pools: dict[str, int], heterogeneity_aware: bool) -> _ShapeRow:
    """The LP row's inputs for one shape: rates (1 when agnostic) and the capacity it may use."""
    rates = dict(jp.rate) if heterogeneity_aware else dict.fromkeys(jp.rate, 1.0)
    inv = inp.index.sites_inventory
    capf: dict[str, float] = {}
    for k, pools in jp.by_model.items():
        # a shape that may use every pool of k (distinct pools, all of k's) gets all of k's
        # devices: the same integer sum as adding them up, without the O(pools) walk
        if len(pools) == n_pools.get(k, -1):
            capf[k] = float(inp.capacity[k])
        else:
            capf[k] = float(sum(inv(p) for p in pools))
    return tuple(sorted(rates.items())), tuple(sorted(capf.items())), rates, capf
