"""Which pools (site, accelerator model) a job may ever use, and why none when none.

The rules are the policy's filters (cpnet.sched.filters, run in `Profile.filters` order over every
pool of every *known* site, up and down); the order of the pools is the policy's scores
(cpnet.sched.profile documents the default: data site, then latency from it, then energy price x
PUE, then site id). A pool is usable when no filter rejects it. When none is usable the job is
infeasible with a typed status: `resolvable` (wait: some pool was rejected only by
`Unschedulable` filters, e.g. its site is down) or not (fail: the reason is the `explain` of the
first filter that left no pool).

`NetworkIndex` precomputes what depends only on the network (sites, links, throughput table) and
memoises per job *shape* (everything in a JobSpec that feasibility reads), so that checking a job
costs a dict lookup once its shape was seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cpnet.core.model import Accelerator, JobSpec, Link, Site
from cpnet.core.paths import Paths
from cpnet.core.snapshot import Infeasible, Snapshot, ThroughputTable
from cpnet.sched.framework import SCHEDULABLE, Profile, Unschedulable
from cpnet.sched.profile import DEFAULT_PROFILE

Pool = tuple[str, str]  # (site id, accelerator model)

ShapeKey = tuple[str, int, frozenset[str] | None, frozenset[str] | None, str | None, float | None, float, frozenset[str]]


def shape_key(spec: JobSpec) -> ShapeKey:
    """Everything in a JobSpec that decides which pools can hold it."""
    return (
        spec.job_type,
        spec.num_devices,
        spec.accelerators,
        spec.sites,
        spec.data_site,
        spec.latency_slo_ms,
        spec.data_gb,
        spec.avoid_sites,
    )


@dataclass(frozen=True, slots=True)
class JobPools:
    """Feasible pools of one job shape, best site first within each model.

    `by_model` maps model -> pools of that model (preference order); `rate` maps each feasible
    pool's model to steps/s on `num_devices` devices; `model_score` maps it to the profile's model
    score (throughput relative to the fastest). `reason` is set when nothing is feasible now, and
    then `resolvable` says whether the job waits (a pool rejected only by `Unschedulable` filters,
    e.g. at a down site) or can never run (`UnschedulableAndUnresolvable`).
    """

    pools: tuple[Pool, ...]
    by_model: Mapping[str, tuple[Pool, ...]]
    rate: Mapping[str, float]
    reason: str | None = None
    resolvable: bool = False
    model_score: Mapping[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.reason is None

    def infeasible(self, job_id: str) -> Infeasible:
        """The Decision entry for a job of this shape (only when not feasible)."""
        return Infeasible(job_id, self.reason or "", self.resolvable)


_Cand = tuple[Site, str]  # (site, model) with at least one device


@dataclass(slots=True)
class NetworkIndex:
    """Network facts for feasibility, with a per-shape memo. Rebuild when the network changes.

    `sites` are the sites that are up (the only ones placed on); `down_sites` are known sites that
    are down now, read only to tell a job that waits from one that fails.
    """

    sites: tuple[Site, ...]
    links: tuple[Link, ...]
    throughput: ThroughputTable
    paths: Paths = field(default_factory=lambda: Paths({}, {}))
    down_sites: tuple[Site, ...] = ()
    profile: Profile = DEFAULT_PROFILE
    catalog: Mapping[str, Accelerator] = field(default_factory=dict)
    _memo: dict[ShapeKey, JobPools] = field(default_factory=dict)
    _inventory: dict[Pool, int] = field(default_factory=dict)
    _down_ids: frozenset[str] = frozenset()
    _cands: tuple[_Cand, ...] = ()
    # equal per-model pool tuples of different shapes are one object, so that per-call first-fit
    # cursors keyed by the tuple's identity (rounds.FreeCounts) are shared across shapes
    _interned: dict[tuple[Pool, ...], tuple[Pool, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, snapshot: Snapshot, profile: Profile = DEFAULT_PROFILE) -> NetworkIndex:
        down = snapshot.down_sites
        known = snapshot.sites + down
        return cls(
            sites=snapshot.sites,
            links=snapshot.links,
            throughput=snapshot.throughput,
            paths=Paths.build((s.id for s in known), snapshot.links),
            down_sites=down,
            profile=profile,
            catalog=snapshot.catalog,
            _down_ids=frozenset(s.id for s in down),
            _cands=tuple((s, m) for s in known for m, c in s.inventory.items() if c > 0),
        )

    def matches(self, snapshot: Snapshot, profile: Profile = DEFAULT_PROFILE) -> bool:
        """True when `snapshot` describes the network this index was built for (and `profile` is its)."""
        if self.throughput is not snapshot.throughput or self.profile is not profile:
            return False
        if self.sites is not snapshot.sites and self.sites != snapshot.sites:
            return False
        if self.down_sites is not snapshot.down_sites and self.down_sites != snapshot.down_sites:
            return False
        return self.links is snapshot.links or self.links == snapshot.links

    def sites_inventory(self, pool: Pool) -> int:
        """Devices of `pool`'s model at its (up) site."""
        if not self._inventory:
            self._inventory.update({(s.id, m): c for s in self.sites for m, c in s.inventory.items()})
        return self._inventory.get(pool, 0)

    def latency(self, a: str | None, b: str) -> float:
        return self.paths.latency(a, b)

    def transfer_s(self, data_gb: float, a: str | None, b: str) -> float:
        return self.paths.transfer_s(data_gb, a, b)

    def is_up(self, site_id: str) -> bool:
        return site_id not in self._down_ids

    def site_order_key(self, spec: JobSpec, site: Site, rates: Mapping[str, float]) -> tuple[Any, ...]:
        """Lower is preferred: -(weighted sum of the site scores), then -tie-break scores, then id."""
        prof = self.profile
        total = 0.0
        for sc, w in prof.site_scores:
            total += w * sc.score(spec, site, "", rates, self)
        return (-total, *(-t.score(spec, site, "", rates, self) for t in prof.tie_breaks), site.id)

    def pools_for(self, spec: JobSpec) -> JobPools:
        # shape_key(spec), inlined: this runs once per job per scheduler call
        key = (spec.job_type, spec.num_devices, spec.accelerators, spec.sites, spec.data_site, spec.latency_slo_ms, spec.data_gb, spec.avoid_sites)
        found = self._memo.get(key)
        if found is None:
            found = self._compute(spec)
            self._memo[key] = found
        return found

    def _compute(self, spec: JobSpec) -> JobPools:
        """Run the filters over every known pool, then order what is usable by the scores."""
        alive: list[_Cand] = list(self._cands)
        if not alive:
            return JobPools((), {}, {}, "no known site has any devices")
        waits: dict[Pool, str] = {}  # pools rejected so far only by Unschedulable filters -> first reason
        for f in self.profile.filters:
            kept: list[_Cand] = []
            for c in alive:
                st = f.filter(spec, c[0], c[1], self)
                if st is SCHEDULABLE:
                    kept.append(c)
                elif isinstance(st, Unschedulable):
                    kept.append(c)
                    waits.setdefault((c[0].id, c[1]), st.reason)
            if not kept:
                return JobPools((), {}, {}, f.explain(spec, alive, self))
            alive = kept
        usable = [c for c in alive if (c[0].id, c[1]) not in waits] if waits else alive
        if spec.avoid_sites:  # a soft filter: avoided sites only when nothing else passes
            preferred = [c for c in usable if c[0].id not in spec.avoid_sites]
            usable = preferred or usable
        if not usable:
            return JobPools((), {}, {}, "; ".join(sorted(set(waits.values()))), resolvable=True)
        n = spec.num_devices
        rate: dict[str, float] = {}
        for m in sorted({m for _, m in usable}):
            rate[m] = self.throughput.steps_per_s(spec.job_type, m, n) or 0.0
        at: dict[str, Site] = {}
        for s, _ in usable:
            at.setdefault(s.id, s)
        ordered = sorted(at.values(), key=lambda s: self.site_order_key(spec, s, rate))
        have = {(s.id, m) for s, m in usable}
        intern = self._interned.setdefault
        by_model = {m: intern(t, t) for m in rate for t in (tuple((s.id, m) for s in ordered if (s.id, m) in have),)}
        pools = tuple((s.id, m) for s in ordered for m in rate if (s.id, m) in have)
        ms = self.profile.model_score
        any_site = ordered[0]
        model_score = {m: ms.score(spec, any_site, m, rate, self) for m in rate}
        return JobPools(pools, by_model, rate, model_score=model_score)


def index_for(snapshot: Snapshot, previous: NetworkIndex | None, profile: Profile = DEFAULT_PROFILE) -> NetworkIndex:
    """Reuse `previous` when the network (and the profile) is unchanged, else build a new index."""
    if previous is not None and previous.matches(snapshot, profile):
        return previous
    return NetworkIndex.build(snapshot, profile)


def job_weight(spec: JobSpec, tenants: Mapping[str, object]) -> float:
    """Priority weight x tenant weight (a tenant missing from the snapshot weighs 1)."""
    tenant = tenants.get(spec.tenant)
    tw = getattr(tenant, "weight", 1.0) if tenant is not None else 1.0
    return spec.priority_weight * tw
