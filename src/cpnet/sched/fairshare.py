"""Fair share with memory: decayed usage, weighted dominant shares (DRF) compared level by level (Fair Tree).

Decayed usage (Slurm's PriorityDecayHalfLife, default 7 days). A tenant's usage in family f is

    U_f(t) = sum_i u_i * 2^(-(t - t_i) / H)          u_i: CU x s used up to time t_i

kept incrementally: U' = U * 2^(-dt / H) + u, for u CU x s used in the dt seconds since the last
update. Kueue's AdmissionFairSharing keeps instead an average rate, C' = C * 2^(-dt/H) +
(1 - 2^(-dt/H)) * r, which for short steps is C = U * ln 2 / H: the rate form below.

Share (DRF, Ghodsi et al.; Kueue's weighted dominant share). With cap_f the CU/s of family f in
the network (families without capacity are skipped), c_f(n) the CU/s a node's tenants run now and
U_f(n) their decayed usage:

    s_f(n) = (c_f(n) + U_f(n) * ln 2 / H) / cap_f      (present use plus the average rate of the past)
    key(n) = max_f s_f(n) / w(n)

A tenant that ran all of f for ever has U_f * ln 2 / H = cap_f, so both terms are shares of f;
counting the present use as well orders a tenant that was just admitted after the others at once
(Kueue's entry penalty does the same). Hierarchy (Slurm's Fair Tree): siblings are compared by
their keys (lowest first, then the larger weight, then the id) at every level of the tree, from the
orgs down; a tenant's jobs are ordered by priority (highest first), then arrival, then id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cpnet.core.errors import UnknownNameError
from cpnet.core.tenancy import NodeKind, TenantTree

DEFAULT_HALF_LIFE_S = 7 * 86_400.0  # Slurm's PriorityDecayHalfLife default (7-0); Kueue's examples use 168h
LN2 = math.log(2.0)


def decay_factor(dt_s: float, half_life_s: float) -> float:
    """2^(-dt / H): what one CU x s used dt seconds ago counts now."""
    _check_half_life(half_life_s)
    if dt_s < 0:
        raise ValueError(f"time runs forward; got dt = {dt_s} s")
    return math.pow(2.0, -dt_s / half_life_s)


def decayed_sum(samples: Iterable[tuple[float, float]], now_s: float, half_life_s: float) -> float:
    """U(now) = sum u_i * 2^(-(now - t_i) / H) over (t_i, u_i) samples taken at or before now."""
    return math.fsum(u * decay_factor(now_s - t, half_life_s) for t, u in samples)


@dataclass(frozen=True, slots=True)
class DecayedUsage:
    """A tenant's decayed usage U_f (CU x s per family) as of `at_s`."""

    at_s: float = 0.0
    cu: Mapping[str, float] = field(default_factory=dict)

    def at(self, now_s: float, half_life_s: float) -> DecayedUsage:
        """U * 2^(-(now - at) / H)."""
        k = decay_factor(now_s - self.at_s, half_life_s)
        return DecayedUsage(now_s, {f: v * k for f, v in self.cu.items()})

    def plus(self, now_s: float, used_cu: Mapping[str, float], half_life_s: float) -> DecayedUsage:
        """U' = U * 2^(-dt / H) + u, with u the CU x s used per family since `at_s`."""
        decayed = self.at(now_s, half_life_s)
        out = dict(decayed.cu)
        for f, u in used_cu.items():
            out[f] = out.get(f, 0.0) + u
        return DecayedUsage(now_s, out)

    def rate_cu_s(self, half_life_s: float) -> dict[str, float]:
        """U * ln 2 / H: the usage as an average rate (Kueue's consumed resources), CU/s per family."""
        _check_half_life(half_life_s)
        return {f: v * LN2 / half_life_s for f, v in self.cu.items()}


@dataclass(frozen=True, slots=True)
class TenantJob:
    """A job as fair share sees it; `demand_cu_s` maps family -> CU/s it holds once admitted."""

    id: str
    tenant: str
    priority: float = 1.0
    arrival_s: float = 0.0
    demand_cu_s: Mapping[str, float] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True, slots=True)
class ShareInputs:
    """What the shares are computed from, at `now_s`."""

    tree: TenantTree
    capacity_cu_s: Mapping[str, float]  # family -> CU/s of the network
    now_s: float = 0.0
    current_cu_s: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # tenant -> family -> CU/s running now
    historic: Mapping[str, DecayedUsage] = field(default_factory=dict)  # tenant -> decayed usage (advanced to now_s here)
    half_life_s: float = DEFAULT_HALF_LIFE_S

    def node_use_cu_s(self) -> dict[str, dict[str, float]]:
        """c_f(n) + U_f(n) ln 2 / H for every node, summed over its tenants."""
        out: dict[str, dict[str, float]] = {n.id: {} for n in self.tree}
        for tenant in self.tree.tenants():
            use = dict(self.current_cu_s.get(tenant, {}))
            hist = self.historic.get(tenant)
            if hist is not None:
                for f, r in hist.at(self.now_s, self.half_life_s).rate_cu_s(self.half_life_s).items():
                    use[f] = use.get(f, 0.0) + r
            for n in self.tree.path(tenant):
                _add(out[n], use)
        return out


def dominant_share(use_cu_s: Mapping[str, float], capacity_cu_s: Mapping[str, float]) -> float:
    """max_f use_f / cap_f over the families with capacity (0 for no use)."""
    return max((use_cu_s.get(f, 0.0) / cap for f, cap in capacity_cu_s.items() if cap > 0), default=0.0)


def share_keys(inputs: ShareInputs) -> dict[str, float]:
    """key(n) = max_f s_f(n) / w(n) for every node of the tree (lower is served first)."""
    use = inputs.node_use_cu_s()
    return {n.id: dominant_share(use[n.id], inputs.capacity_cu_s) / n.weight for n in inputs.tree}


def tenant_order(inputs: ShareInputs) -> list[str]:
    """Every tenant in fair-share order: depth first, siblings by (key, -weight, id)."""
    keys = share_keys(inputs)
    tree = inputs.tree
    out: list[str] = []

    def visit(ids: Sequence[str]) -> None:
        for i in sorted(ids, key=lambda n: (keys[n], -tree.node(n).weight, n)):
            if tree.node(i).kind is NodeKind.TENANT:
                out.append(i)
            else:
                visit(tree.children(i))

    visit(tree.roots())
    return out


def admission_order(jobs: Iterable[TenantJob], inputs: ShareInputs) -> list[TenantJob]:
    """The pending jobs in the order to try them: each next job is the next one of the tenant found by
    going down the tree to the sibling of lowest key that has jobs left; its demand is then counted as
    running, so a tenant with many jobs gets one tenant's share, not one share per job."""
    tree = inputs.tree
    queues: dict[str, list[TenantJob]] = {}
    for job in jobs:
        if job.tenant not in tree or tree.node(job.tenant).kind is not NodeKind.TENANT:
            raise UnknownNameError("tenant", job.tenant, tree.tenants())
        queues.setdefault(job.tenant, []).append(job)
    for q in queues.values():
        q.sort(key=lambda j: (-j.priority, j.arrival_s, j.id), reverse=True)  # popped from the end
    left: dict[str, int] = {}
    for tenant, q in queues.items():
        for n in tree.path(tenant):
            left[n] = left.get(n, 0) + len(q)
    use = inputs.node_use_cu_s()
    cap = inputs.capacity_cu_s

    def best(ids: Iterable[str]) -> str:
        return min((i for i in ids if left.get(i, 0) > 0), key=lambda n: (dominant_share(use[n], cap) / tree.node(n).weight, -tree.node(n).weight, n))

    out: list[TenantJob] = []
    for _ in range(sum(len(q) for q in queues.values())):
        node = best(tree.roots())
        while tree.node(node).kind is not NodeKind.TENANT:
            node = best(tree.children(node))
        job = queues[node].pop()
        out.append(job)
        for n in tree.path(node):
            left[n] -= 1
            _add(use[n], job.demand_cu_s)
    return out


def effective_weights(tree: TenantTree, active: Iterable[str]) -> dict[str, float]:
    """Each active tenant's share of the network: prod over its path of w(n) / sum of w over n's active siblings (sums to 1)."""
    live: set[str] = set()
    for t in active:
        live.update(tree.path(t))
    out: dict[str, float] = {}
    for t in tree.tenants():
        if t not in live:
            continue
        share = 1.0
        for n in tree.path(t):
            parent = tree.node(n).parent
            siblings = tree.roots() if parent is None else tree.children(parent)
            share *= tree.node(n).weight / math.fsum(tree.node(s).weight for s in siblings if s in live)
        out[t] = share
    return out


def tenant_job_weights(jobs: Iterable[TenantJob], tenant_weights: Mapping[str, float]) -> dict[str, float]:
    """w_j = W_t * p_j / sum_{k of t} p_k: a tenant's jobs together get its weight W_t, split by priority (Gavel's hierarchical weights)."""
    by_tenant: dict[str, list[TenantJob]] = {}
    for job in jobs:
        if job.priority <= 0:
            raise ValueError(f"job '{job.id}': priority must be > 0 (got {job.priority})")
        by_tenant.setdefault(job.tenant, []).append(job)
    out: dict[str, float] = {}
    for tenant, js in by_tenant.items():
        if tenant not in tenant_weights:
            raise UnknownNameError("tenant", tenant, tenant_weights)
        total = math.fsum(j.priority for j in js)
        for j in js:
            out[j.id] = tenant_weights[tenant] * j.priority / total
    return out


def _add(into: dict[str, float], more: Mapping[str, float]) -> None:
    for f, v in more.items():
        into[f] = into.get(f, 0.0) + v


def _check_half_life(half_life_s: float) -> None:
    # H = inf (Slurm's "0: never decay") would make the rate form U ln 2 / H vanish: take a long H instead.
    if not (math.isfinite(half_life_s) and half_life_s > 0):
        raise ValueError(f"half-life must be a finite number of seconds > 0 (got {half_life_s})")
