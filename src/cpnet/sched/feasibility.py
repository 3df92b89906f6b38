"""Which pools (site, accelerator model) a job may ever use, and why none when none.

A pool can hold a job when: the model is allowed by `spec.accelerators`, the site by
`spec.sites`; the site owns at least `spec.num_devices` devices of that model (gangs never split
across sites or models); the throughput table knows a positive rate for the job type on that many
devices; and, when the job sets `latency_slo_ms` and `data_site`, the network latency from the data
site to the pool's site is within the SLO.

Pools come back in the site preference order every policy uses to break ties between sites of one
model: the job's data site first, then lowest latency from it, then cheapest energy
(price per kWh x PUE), then site id. The order is deterministic.

`NetworkIndex` precomputes what depends only on the network (sites, links, throughput table) and
memoises per job *shape* (everything in a JobSpec that feasibility reads), so that checking a job
costs a dict lookup once its shape was seen.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

from cpnet.core.model import JobSpec, Link, Site
from cpnet.core.snapshot import Snapshot, ThroughputTable

Pool = tuple[str, str]  # (site id, accelerator model)

ShapeKey = tuple[str, int, frozenset[str] | None, frozenset[str] | None, str | None, float | None]


def shape_key(spec: JobSpec) -> ShapeKey:
    """Everything in a JobSpec that decides which pools can hold it."""
    return (
        spec.job_type,
        spec.num_devices,
        spec.accelerators,
        spec.sites,
        spec.data_site,
        spec.latency_slo_ms,
    )


@dataclass(frozen=True, slots=True)
class JobPools:
    """Feasible pools of one job shape, best site first within each model.

    `by_model` maps model -> pools of that model (preference order); `rate` maps each feasible
    pool's model to steps/s on `num_devices` devices; `reason` is set when nothing is feasible.
    """

    pools: tuple[Pool, ...]
    by_model: Mapping[str, tuple[Pool, ...]]
    rate: Mapping[str, float]
    reason: str | None = None

    @property
    def feasible(self) -> bool:
        return self.reason is None


def _latencies(sites: tuple[Site, ...], links: tuple[Link, ...]) -> dict[str, dict[str, float]]:
    """All-pairs shortest latency (ms) over the links; a site is 0 ms from itself."""
    adj: dict[str, list[tuple[str, float]]] = {s.id: [] for s in sites}
    for link in links:
        adj.setdefault(link.a, []).append((link.b, link.latency_ms))
        adj.setdefault(link.b, []).append((link.a, link.latency_ms))
    out: dict[str, dict[str, float]] = {}
    for src in adj:
        dist = {src: 0.0}
        heap = [(0.0, src)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist.get(u, float("inf")):
                continue
            for v, w in adj.get(u, ()):
                nd = d + w
                if nd < dist.get(v, float("inf")):
                    dist[v] = nd
                    heapq.heappush(heap, (nd, v))
        out[src] = dist
    return out


@dataclass(slots=True)
class NetworkIndex:
    """Network facts for feasibility, with a per-shape memo. Rebuild when the network changes."""

    sites: tuple[Site, ...]
    links: tuple[Link, ...]
    throughput: ThroughputTable
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    _memo: dict[ShapeKey, JobPools] = field(default_factory=dict)
    _inventory: dict[Pool, int] = field(default_factory=dict)

    @classmethod
    def build(cls, snapshot: Snapshot) -> NetworkIndex:
        return cls(
            sites=snapshot.sites,
            links=snapshot.links,
            throughput=snapshot.throughput,
            latency_ms=_latencies(snapshot.sites, snapshot.links),
        )

    def matches(self, snapshot: Snapshot) -> bool:
        """True when `snapshot` describes the network this index was built for."""
        if self.throughput is not snapshot.throughput:
            return False
        if self.sites is not snapshot.sites and self.sites != snapshot.sites:
            return False
        return self.links is snapshot.links or self.links == snapshot.links

    def sites_inventory(self, pool: Pool) -> int:
        """Devices of `pool`'s model at its site."""
        if not self._inventory:
            self._inventory.update({(s.id, m): c for s in self.sites for m, c in s.inventory.items()})
        return self._inventory.get(pool, 0)

    def latency(self, a: str | None, b: str) -> float:
        if a is None:
            return 0.0
        return self.latency_ms.get(a, {}).get(b, float("inf"))

    def site_order_key(self, spec: JobSpec, site: Site) -> tuple[int, float, float, str]:
        """Lower is preferred: data site, then latency from it, then energy price, then id."""
        data = spec.data_site
        return (
            0 if site.id == data else 1,
            self.latency(data, site.id),
            site.price_usd_per_kwh * site.pue,
            site.id,
        )

    def pools_for(self, spec: JobSpec) -> JobPools:
        # shape_key(spec), inlined: this runs once per job per scheduler call
        key = (spec.job_type, spec.num_devices, spec.accelerators, spec.sites, spec.data_site, spec.latency_slo_ms)
        found = self._memo.get(key)
        if found is None:
            found = self._compute(spec)
            self._memo[key] = found
        return found

    def _compute(self, spec: JobSpec) -> JobPools:
        n = spec.num_devices
        if n <= 0:
            return JobPools((), {}, {}, f"num_devices must be >= 1, got {n}")
        allowed_sites = [s for s in self.sites if spec.sites is None or s.id in spec.sites]
        if not allowed_sites:
            return JobPools((), {}, {}, f"none of the allowed sites {sorted(spec.sites or ())} exists")
        if spec.latency_slo_ms is not None and spec.data_site is not None:
            near = [s for s in allowed_sites if self.latency(spec.data_site, s.id) <= spec.latency_slo_ms]
            if not near:
                return JobPools((), {}, {}, (f"no allowed site within {spec.latency_slo_ms} ms of data site '{spec.data_site}'"))
            allowed_sites = near
        models = sorted({m for s in allowed_sites for m, c in s.inventory.items() if c > 0})
        if spec.accelerators is not None:
            models = [m for m in models if m in spec.accelerators]
            if not models:
                return JobPools((), {}, {}, (f"no allowed site has any of the allowed accelerators {sorted(spec.accelerators)}"))
        rate: dict[str, float] = {}
        for m in models:
            r = self.throughput.steps_per_s(spec.job_type, m, n)
            if r is not None and r > 0:
                rate[m] = r
        if not rate:
            return JobPools((), {}, {}, (f"no throughput for job type '{spec.job_type}' on {n} device(s) of {models}"))
        ordered = sorted(allowed_sites, key=lambda s: self.site_order_key(spec, s))
        by_model: dict[str, tuple[Pool, ...]] = {}
        for m in sorted(rate):
            pools = tuple((s.id, m) for s in ordered if s.inventory.get(m, 0) >= n)
            if pools:
                by_model[m] = pools
        if not by_model:
            biggest = max(s.inventory.get(m, 0) for s in allowed_sites for m in rate)
            return JobPools((), {}, {}, (f"needs {n} devices of one model at one site; the largest usable pool ({sorted(rate)}) has {biggest}"))
        pools = tuple((s.id, m) for s in ordered for m in sorted(by_model) if s.inventory.get(m, 0) >= n)
        return JobPools(pools, by_model, {m: rate[m] for m in by_model})


def index_for(snapshot: Snapshot, previous: NetworkIndex | None) -> NetworkIndex:
    """Reuse `previous` when the network is unchanged, else build a new index."""
    if previous is not None and previous.matches(snapshot):
        return previous
    return NetworkIndex.build(snapshot)


def job_weight(spec: JobSpec, tenants: Mapping[str, object]) -> float:
    """Priority weight x tenant weight (a tenant missing from the snapshot weighs 1)."""
    tenant = tenants.get(spec.tenant)
    tw = getattr(tenant, "weight", 1.0) if tenant is not None else 1.0
    return spec.priority_weight * tw
