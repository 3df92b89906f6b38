"""Guaranteed quotas with borrowing and lending in the tenant tree, after Kueue's cohorts (hierarchical).

Rule: a tenant is admitted x CU/s more on family f iff x <= available(tenant, d) in every enforced dimension d of {ALL, f}.

Dimensions are ALL_FAMILIES (a job's CU/s on any family) and each family (its CU/s on that family);
a dimension is enforced when some node of the tree declares a quota in it, so a tree without quotas
admits everything (the old behaviour). The roots (orgs and lone tenants) hang under one virtual
root, the network, whose own quota is `pool_cu_s[d]` (capacity nobody was promised; default 0).
Per dimension, with q_n the declared quota, T(n) its subtree total (cpnet.core.tenancy), L_n the
lending limit and B_n the borrowing limit, Kueue's resource nodes are

    own(n) = q_n - sum_c T(c)  where n declares q_n, else 0     (the parent's unassigned quota; Kueue's
                                                                  nominalQuota of a cohort)
    SQ(n)  = own(n) + sum_c (SQ(c) - G(c))                      (subtree quota visible at n)
    G(n)   = max(0, SQ(n) - L_n), or 0 without a lending limit  (guaranteed: never lent out)
    U(n)   = a tenant's CU/s in use;  sum_c max(0, U(c) - G(c)) for an inner node
    available(root) = SQ(root) - U(root)
    available(n)    = max(0, G(n) - U(n)) + min(available(parent),
                                                SQ(n) - G(n) - max(0, U(n) - G(n)) + B_n)

so a node uses its own guaranteed part first, then quota it stores in its parent's pool, then its
siblings' (cousins', ...) unused lendable quota; it never uses more than T(n) + B_n, and others
never use more than L_n of its unused quota. `reclaim` names the borrowers to preempt when a
tenant wants quota that others are using (Kueue's reclaimWithinCohort).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cpnet.core.errors import UnknownNameError
from cpnet.core.tenancy import ALL_FAMILIES, NodeKind, TenantTree

ROOT = ""  # the virtual root over the orgs; "" is never a node id (TenantTree rejects it)
_EPS = 1e-9  # relative slack of comparisons in CU/s, so that sums of floats admit an exact fit

Usage = Mapping[str, Mapping[str, float]]  # tenant -> family -> CU/s


@dataclass(frozen=True, slots=True)
class _Dim:
    """One dimension's resource nodes (see the module docstring)."""

    sq: dict[str, float]
    g: dict[str, float]
    u: dict[str, float]


@dataclass(frozen=True, slots=True)
class Claim:
    """`owner` wants its quota back: free `cu_s` CU/s of `borrower`'s jobs on `family` (cpnet.sched.victims picks them)."""

    owner: str
    borrower: str
    family: str
    cu_s: float


@dataclass(frozen=True, slots=True)
class Quotas:
    """The quota rule over a tree at one instant; `usage` maps tenant -> family -> CU/s admitted now."""

    tree: TenantTree
    usage: Usage = field(default_factory=dict)
    pool_cu_s: Mapping[str, float] = field(default_factory=dict)  # dimension -> the virtual root's own quota
    _dims: dict[str, _Dim] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for tenant in self.usage:
            if self.tree.node(tenant).kind is not NodeKind.TENANT:
                raise ValueError(f"usage is a tenant's; '{tenant}' is a {self.tree.node(tenant).kind}")
        object.__setattr__(self, "_dims", {d: self._build(d) for d in self.tree.quota_dimensions()})

    def enforced(self) -> frozenset[str]:
        return frozenset(self._dims)

    def available(self, tenant: str, family: str) -> float:
        """CU/s more that the tenant may be admitted on this family now (inf where nothing is enforced)."""
        self._tenant(tenant)
        return min((self._available(tenant, d) for d in (ALL_FAMILIES, family) if d in self._dims), default=math.inf)

    def admits(self, tenant: str, cu_s: float, family: str) -> bool:
        avail = self.available(tenant, family)
        return cu_s <= avail + _EPS * max(1.0, abs(avail))

    def admit(self, tenant: str, cu_s: float, family: str) -> Quotas:
        """These quotas with `cu_s` more in use by the tenant on the family (no check: call `admits` first)."""
        return self._with(tenant, family, cu_s)

    def release(self, tenant: str, cu_s: float, family: str) -> Quotas:
        return self._with(tenant, family, -cu_s)

    def in_use(self, node: str, dimension: str) -> float:
        """CU/s in use by the node's tenants in a dimension (ALL_FAMILIES or a family)."""
        return math.fsum(_amount(self.usage.get(t, {}), dimension) for t in self.tree.tenants(node))

    def borrowed(self, node: str, dimension: str) -> float:
        """How far the node's use exceeds its subtree quota T(n): what it borrows from its cohort (0 where not enforced)."""
        if dimension not in self._dims:
            return 0.0
        return max(0.0, self.in_use(node, dimension) - self.tree.subtree_quota(node, dimension))

    def _tenant(self, tenant: str) -> None:
        if self.tree.node(tenant).kind is not NodeKind.TENANT:
            raise UnknownNameError("tenant", tenant, self.tree.tenants())

    def _with(self, tenant: str, family: str, delta: float) -> Quotas:
        self._tenant(tenant)
        usage = {t: dict(by) for t, by in self.usage.items()}
        row = usage.setdefault(tenant, {})
        row[family] = max(0.0, row.get(family, 0.0) + delta)
        return Quotas(self.tree, usage, self.pool_cu_s)

    def _build(self, dim: str) -> _Dim:
        tree = self.tree
        sq: dict[str, float] = {}
        g: dict[str, float] = {}
        u: dict[str, float] = {}

        def visit(node: str) -> None:
            kids = tree.children(node)
            for c in kids:
                visit(c)
            n = tree.node(node)
            declared = n.quota(dim)
            own = 0.0 if declared is None else max(0.0, declared - math.fsum(tree.subtree_quota(c, dim) for c in kids))
            sq[node] = own + math.fsum(sq[c] - g[c] for c in kids)
            g[node] = 0.0 if n.lending_limit_cu_s is None else max(0.0, sq[node] - n.lending_limit_cu_s)
            if n.kind is NodeKind.TENANT:
                u[node] = _amount(self.usage.get(node, {}), dim)
            else:
                u[node] = math.fsum(max(0.0, u[c] - g[c]) for c in kids)

        roots = tree.roots()
        for r in roots:
            visit(r)
        sq[ROOT] = self.pool_cu_s.get(dim, 0.0) + math.fsum(sq[r] - g[r] for r in roots)
        g[ROOT] = 0.0
        u[ROOT] = math.fsum(max(0.0, u[r] - g[r]) for r in roots)
        return _Dim(sq, g, u)

    def _available(self, node: str, dim: str) -> float:
        d = self._dims[dim]
        if node == ROOT:
            return d.sq[ROOT] - d.u[ROOT]
        parent = self.tree.node(node).parent
        from_parent = self._available(ROOT if parent is None else parent, dim)
        limit = self.tree.node(node).borrowing_limit_cu_s
        if limit is not None:
            stored = d.sq[node] - d.g[node]
            used_in_parent = max(0.0, d.u[node] - d.g[node])
            from_parent = min(from_parent, stored - used_in_parent + limit)
        return max(0.0, d.g[node] - d.u[node]) + from_parent


def reclaim(quotas: Quotas, demand: Usage) -> tuple[Claim, ...]:
    """Which borrowers to preempt so that tenants get the quota they are owed for their pending demand.

    Owners are taken in `demand`'s order (e.g. fair-share order); each wants min(demand, owed) more
    on a family, where owed = min over enforced dimensions of max over the owner's path n of
    (T(n) - in use(n)): unused quota of the owner, its team or its org. While the owner's
    `available` is short of that, CU/s are taken back from borrowers: tenants b whose every node from
    b up to (not including) the lowest common ancestor with the owner uses more than its T, nearest
    cohort first, then the largest borrower; each takes at most that excess, and a claim is kept
    only where it raises the owner's `available`. Claimed CU/s and the owner's own share are booked
    before the next owner, so no two owners count on the same freed quota.
    """
    claims: list[Claim] = []
    state = quotas
    for owner, wants in demand.items():
        for family, want in wants.items():
            if want <= 0 or not state.enforced() & {ALL_FAMILIES, family}:
                continue
            goal = min(want, _owed(state, owner, family))
            got = state.available(owner, family)
            for borrower, b_family in _candidates(state, owner, family):
                if got >= goal * (1 - _EPS):
                    break
                take = min(_excess(state, owner, borrower, b_family), goal - got)
                if take <= 0:
                    continue
                trial = state.release(borrower, take, b_family)
                after = trial.available(owner, family)
                if after > got + _EPS * max(1.0, got):
                    claims.append(Claim(owner, borrower, b_family, take))
                    state, got = trial, after
            # book what the owner will take, so that the next owner does not count on it too
            state = state.admit(owner, min(want, max(0.0, got)), family)
    return tuple(claims)


def _amount(by_family: Mapping[str, float], dim: str) -> float:
    return math.fsum(by_family.values()) if dim == ALL_FAMILIES else by_family.get(dim, 0.0)


def _dims_of(quotas: Quotas, family: str) -> list[str]:
    return [d for d in (ALL_FAMILIES, family) if d in quotas.enforced()]


def _owed(quotas: Quotas, owner: str, family: str) -> float:
    tree = quotas.tree
    return min(max(max(0.0, tree.subtree_quota(n, d) - quotas.in_use(n, d)) for n in tree.path(owner)) for d in _dims_of(quotas, family))


def _below_lca(tree: TenantTree, owner: str, other: str) -> tuple[str, ...]:
    """The other's path from itself up to, not including, the lowest common ancestor with the owner."""
    mine = set(tree.path(owner))
    out: list[str] = []
    for n in (other, *tree.ancestors(other)):
        if n in mine:
            break
        out.append(n)
    return tuple(out)


def _excess(quotas: Quotas, owner: str, borrower: str, family: str) -> float:
    """The least borrowed along the borrower's path below the common ancestor: what it may be made to give back."""
    tree = quotas.tree
    nodes = _below_lca(tree, owner, borrower)
    amounts = [quotas.usage.get(borrower, {}).get(family, 0.0)]
    amounts += [quotas.borrowed(n, d) for d in _dims_of(quotas, family) for n in nodes]
    return min(amounts)


def _candidates(quotas: Quotas, owner: str, family: str) -> Iterable[tuple[str, str]]:
    """(borrower, family of its use) pairs, nearest cohort first, then most borrowed, the owner's family first."""
    tree = quotas.tree
    rows: list[tuple[int, int, float, str, str]] = []
    for b in tree.tenants():
        if b == owner:
            continue
        depth = len(tree.path(b)) - len(_below_lca(tree, owner, b))  # depth of the common ancestor; 0: the network
        for g, cu in quotas.usage.get(b, {}).items():
            if cu > 0 and (g == family or ALL_FAMILIES in quotas.enforced()):
                excess = _excess(quotas, owner, b, g)
                if excess > 0:
                    rows.append((-depth, g != family, -excess, b, g))
    rows.sort()
    return [(b, g) for *_, b, g in rows]
