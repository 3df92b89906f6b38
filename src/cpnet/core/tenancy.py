"""The tenant tree: organisations, teams and tenants, each with a weight, and optional quotas, limits and budgets.

Shape. Every node is an org, a team or a tenant. An org has no parent; a team's or a tenant's parent
is an org or a team; tenants are the leaves and every leaf is a tenant (only tenants submit jobs).
A parentless tenant is an organisation of one: a flat tenant list (the old scenario form) is a
valid tree, every tenant its own root. A parentless team is a root too (a team admin's subtree).

Quotas are in CU/s (compute units per second, cpnet.catalog.compute_units), per dimension: `ALL`
(every accelerator family together, `quota_cu_s`) or one family (`family_quota_cu_s[family]`; a
family is an accelerator vendor, e.g. "NVIDIA"). A node's quota is the total of its subtree, so an
org of 1000 CU/s may split it into teams of 600 and 400. For a dimension d the subtree total is

    T(n) = q_n            where n declares a quota in d
    T(n) = sum_c T(c)     otherwise (0 for a tenant without one)

and the children of a node that declares q_n may not declare more than it: sum_c T(c) <= q_n.
`borrowing_limit_cu_s` caps how far the subtree's use may exceed T(n) (None: no cap);
`lending_limit_cu_s` caps how much of its unused quota others may use (None: all of it).
cpnet.sched.quota turns these into admission decisions (Kueue's cohort semantics).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from cpnet.core.errors import CpnetError, UnknownNameError
from cpnet.core.model import Tenant

ALL_FAMILIES = "*"  # the quota dimension of every accelerator family together


class NodeKind(StrEnum):
    ORG = "org"
    TEAM = "team"
    TENANT = "tenant"


class BudgetUnit(StrEnum):
    CU = "cu"  # compute-unit seconds (CU x s)
    USD = "usd"


class BudgetPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO weeks, Monday 00:00 UTC
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `amount` (CU x s, or USD) per calendar period (UTC); cpnet.sched.budget checks it."""

    amount: float
    unit: BudgetUnit
    period: BudgetPeriod


@dataclass(frozen=True, slots=True)
class TenantNode:
    id: str
    kind: NodeKind = NodeKind.TENANT
    parent: str | None = None
    weight: float = 1.0
    quota_cu_s: float | None = None  # guaranteed CU/s of the subtree, all families together; None: none declared
    family_quota_cu_s: Mapping[str, float] = field(default_factory=dict)  # family (vendor) -> guaranteed CU/s
    borrowing_limit_cu_s: float | None = None  # how far use may exceed the quota; None: unlimited
    lending_limit_cu_s: float | None = None  # how much unused quota others may use; None: all of it
    budget: Budget | None = None
    home_site: str | None = None  # tenants only: where the tenant's data lives when a trace does not say

    def __hash__(self) -> int:
        return hash(self.id)

    def quota(self, dimension: str) -> float | None:
        """The declared quota in a dimension (ALL_FAMILIES or a family), None where none is."""
        return self.quota_cu_s if dimension == ALL_FAMILIES else self.family_quota_cu_s.get(dimension)


class TenantTreeError(CpnetError):
    """A tenant tree that breaks a rule; `node` and `field` say where (the scenario loader adds the line)."""

    def __init__(self, node: str, field: str, problem: str) -> None:
        super().__init__(f"tenant tree, node '{node}', field '{field}': {problem}")
        self.node = node
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class TenantTree:
    """A validated forest of TenantNodes, in declaration order (see the module docstring for the rules)."""

    nodes: tuple[TenantNode, ...]
    # An org or team without members yet (built up one node at a time through the API); the scheduler's tree never has one.
    allow_empty: bool = field(default=False, compare=False)
    _by_id: dict[str, TenantNode] = field(init=False, repr=False, compare=False)
    _children: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, TenantNode] = {}
        for n in self.nodes:
            if n.id in by_id:
                raise TenantTreeError(n.id, "id", f"duplicate id '{n.id}'; ids of orgs, teams and tenants must be unique")
            by_id[n.id] = n
        children: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            _check_node(n)
            if n.parent is not None:
                parent = by_id.get(n.parent)
                if parent is None:
                    valid = ", ".join(sorted(i for i, p in by_id.items() if p.kind is not NodeKind.TENANT)) or "none"
                    raise TenantTreeError(n.id, "parent", f"unknown parent '{n.parent}'; expected an org or team id: {valid}")
                if parent.kind is NodeKind.TENANT:
                    raise TenantTreeError(n.id, "parent", f"parent '{n.parent}' is a tenant; tenants are leaves, a parent is an org or a team")
                children[n.parent].append(n.id)
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "_children", {k: tuple(v) for k, v in children.items()})
        for n in self.nodes:
            self._check_acyclic(n)
            if n.kind is not NodeKind.TENANT and not children[n.id] and not self.allow_empty:
                raise TenantTreeError(n.id, "kind", f"{n.kind} '{n.id}' has no members; every leaf of the tree is a tenant")
        for dim in self.quota_dimensions():
            for n in self.nodes:
                self._check_children_fit(n, dim)

    @classmethod
    def from_tenants(cls, tenants: Iterable[Tenant]) -> TenantTree:
        """The tree of a flat tenant list: every tenant its own organisation of one, with no quota."""
        return cls(tuple(TenantNode(id=t.id, weight=t.weight, home_site=t.home_site) for t in tenants))

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._by_id

    def __iter__(self) -> Iterator[TenantNode]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, node_id: str) -> TenantNode:
        try:
            return self._by_id[node_id]
        except KeyError:
            raise UnknownNameError("tenant-tree node", node_id, self._by_id) from None

    def roots(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.nodes if n.parent is None)

    def children(self, node_id: str) -> tuple[str, ...]:
        self.node(node_id)
        return self._children[node_id]

    def ancestors(self, node_id: str) -> tuple[str, ...]:
        """Parent first, root last."""
        out: list[str] = []
        parent = self.node(node_id).parent
        while parent is not None:
            out.append(parent)
            parent = self._by_id[parent].parent
        return tuple(out)

    def path(self, node_id: str) -> tuple[str, ...]:
        """Root first, the node itself last."""
        return (*reversed(self.ancestors(node_id)), node_id)

    def descendants(self, node_id: str) -> tuple[str, ...]:
        """The node and everything below it, depth first in declaration order."""
        out: list[str] = []
        stack = [node_id]
        self.node(node_id)
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(self._children[current]))
        return tuple(out)

    def tenants(self, node_id: str | None = None) -> tuple[str, ...]:
        """The tenant leaves under a node (the node itself if it is a tenant); every tenant when None."""
        ids = (n.id for n in self.nodes) if node_id is None else iter(self.descendants(node_id))
        return tuple(i for i in ids if self._by_id[i].kind is NodeKind.TENANT)

    def subtree(self, node_id: str) -> TenantTree:
        """The node and its descendants as a tree of their own (what a team's admin may see)."""
        keep = set(self.descendants(node_id))
        return TenantTree(tuple(replace(n, parent=None) if n.id == node_id else n for n in self.nodes if n.id in keep), self.allow_empty)

    def with_nodes(self, nodes: Iterable[TenantNode]) -> TenantTree:
        """A new tree with these nodes added, or replacing the nodes of the same id (validated as a whole)."""
        new = {n.id: n for n in nodes}
        kept = [new.pop(n.id, n) for n in self.nodes]
        return TenantTree((*kept, *new.values()), self.allow_empty)

    def without(self, node_ids: Iterable[str]) -> TenantTree:
        """A new tree without these nodes (validated: a node whose parent is removed is an error)."""
        drop = set(node_ids)
        for i in drop:
            self.node(i)
        return TenantTree(tuple(n for n in self.nodes if n.id not in drop), self.allow_empty)

    def without_empty(self) -> TenantTree:
        """The tree without orgs and teams that have no tenant below them (what the scheduler reads)."""
        keep = {a for t in self.tenants() for a in (t, *self.ancestors(t))}
        return TenantTree(tuple(n for n in self.nodes if n.id in keep))

    def effective_weight(self, tenant: str) -> float:
        """The tenant's weight in the network: its root's weight times, at each level below, its node's
        weight over the sum of its siblings' (itself included). So weights inside a team only split the
        team's part: a team admin raising all its tenants' weights does not raise the team's share; a
        flat list (every tenant a root) keeps its weights as they are."""
        path = self.path(tenant)
        w = self.node(path[0]).weight
        for node_id in path[1:]:
            n = self.node(node_id)
            siblings = self._children[n.parent] if n.parent is not None else self.roots()
            w *= n.weight / math.fsum(self._by_id[s].weight for s in siblings)
        return w

    def tenant_models(self) -> dict[str, Tenant]:
        """The tenant leaves as flat `cpnet.core.model.Tenant`s with their effective weights (what the scheduler and simulator read)."""
        return {n.id: Tenant(id=n.id, weight=self.effective_weight(n.id), home_site=n.home_site) for n in self.nodes if n.kind is NodeKind.TENANT}

    def quota_dimensions(self) -> frozenset[str]:
        """The dimensions in which some node declares a quota (only these are enforced)."""
        dims: set[str] = set()
        for n in self.nodes:
            if n.quota_cu_s is not None:
                dims.add(ALL_FAMILIES)
            dims.update(n.family_quota_cu_s)
        return frozenset(dims)

    def subtree_quota(self, node_id: str, dimension: str) -> float:
        """T(n): the node's declared quota in the dimension, else the sum of its children's T."""
        declared = self.node(node_id).quota(dimension)
        if declared is not None:
            return declared
        return math.fsum(self.subtree_quota(c, dimension) for c in self._children[node_id])

    def _check_acyclic(self, node: TenantNode) -> None:
        seen = [node.id]
        parent = node.parent
        while parent is not None:
            if parent in seen:
                chain = " -> ".join([*seen, parent])
                raise TenantTreeError(node.id, "parent", f"parent chain {chain} is a cycle; the tree must end at an org")
            seen.append(parent)
            parent = self._by_id[parent].parent

    def _check_children_fit(self, node: TenantNode, dim: str) -> None:
        declared = node.quota(dim)
        if declared is None:
            return
        inner = math.fsum(self.subtree_quota(c, dim) for c in self._children[node.id])
        if inner > declared * (1 + 1e-9):
            what = "quota_cu_s" if dim == ALL_FAMILIES else f"family_quota_cu_s.{dim}"
            raise TenantTreeError(node.id, what, f"its members' quotas add up to {inner:g} CU/s, more than this {node.kind}'s {declared:g}")


def _check_node(n: TenantNode) -> None:
    if not n.id:
        raise TenantTreeError(n.id, "id", "an id may not be empty")
    if n.kind is NodeKind.ORG and n.parent is not None:
        raise TenantTreeError(n.id, "parent", f"an org is a root and has no parent (got '{n.parent}')")
    if n.parent == n.id:
        raise TenantTreeError(n.id, "parent", "a node cannot be its own parent")
    if not (math.isfinite(n.weight) and n.weight > 0):
        raise TenantTreeError(n.id, "weight", f"expected a finite number > 0 (got {n.weight})")
    for name, value in (("quota_cu_s", n.quota_cu_s), ("borrowing_limit_cu_s", n.borrowing_limit_cu_s), ("lending_limit_cu_s", n.lending_limit_cu_s)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise TenantTreeError(n.id, name, f"expected a finite number >= 0 CU/s (got {value})")
    for family, value in n.family_quota_cu_s.items():
        if not family or family == ALL_FAMILIES:
            raise TenantTreeError(n.id, "family_quota_cu_s", f"'{family}' is not an accelerator family; expected a vendor name such as NVIDIA")
        if not (math.isfinite(value) and value >= 0):
            raise TenantTreeError(n.id, f"family_quota_cu_s.{family}", f"expected a finite number >= 0 CU/s (got {value})")
    if n.budget is not None and not (math.isfinite(n.budget.amount) and n.budget.amount > 0):
        raise TenantTreeError(n.id, "budget", f"expected an amount > 0 (got {n.budget.amount})")
    if n.home_site is not None and n.kind is not NodeKind.TENANT:
        raise TenantTreeError(n.id, "home_site", f"home_site is a tenant's; this node is a {n.kind}")
