"""Tiny literal networks and snapshots for policy tests (no data files)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from cpnet.core.model import JobSpec, Link, Site, Tenant, Tier
from cpnet.core.snapshot import Decision, JobView, Placement, Snapshot


@dataclass(frozen=True)
class LiteralThroughput:
    """steps/s per (job_type, model) on one device; n devices give n x that (None if absent)."""

    rates: Mapping[tuple[str, str], float]

    def steps_per_s(self, job_type: str, accelerator: str, num_devices: int) -> float | None:
        r = self.rates.get((job_type, accelerator))
        return None if r is None else r * num_devices

    def job_types(self) -> list[str]:
        return sorted({t for t, _ in self.rates})


def site(id: str, price: float = 0.1, **inventory: int) -> Site:
    return Site(id=id, tier=Tier.CLOUD, region="r", lat=0.0, lon=0.0, inventory=dict(inventory), price_usd_per_kwh=price)


def job(id: str, n: int = 1, arrival: float = 0.0, job_type: str = "a", steps: float = 1e6, **kw: object) -> JobSpec:
    return JobSpec(id=id, tenant=str(kw.pop("tenant", "t")), job_type=job_type, num_devices=n, total_steps=steps, arrival_s=arrival, **kw)  # type: ignore[arg-type]


def view(
    spec: JobSpec, placement: tuple[str, str] | None = None, attained: float = 0.0, as_of: float = 0.0, time_on: Mapping[tuple[str, str], float] | None = None
) -> JobView:
    p = None if placement is None else Placement(spec.id, placement[0], placement[1], spec.num_devices)
    return JobView(spec=spec, placement=p, attained_device_s=attained, as_of_s=as_of, time_on_s=dict(time_on or {}))


def snapshot(
    sites: Iterable[Site],
    jobs: Iterable[JobView],
    rates: Mapping[tuple[str, str], float],
    now: float = 0.0,
    links: Iterable[Link] = (),
    tenants: Iterable[Tenant] = (),
    state: object = None,
    free: Mapping[tuple[str, str], int] | None = None,
    seed: int = 0,
    throughput: LiteralThroughput | None = None,
) -> Snapshot:
    sites = tuple(sites)
    jobs = tuple(sorted(jobs, key=lambda j: j.spec.arrival_s))
    if free is None:
        used: dict[tuple[str, str], int] = {}
        for j in jobs:
            if j.placement is not None:
                used[j.placement.pool] = used.get(j.placement.pool, 0) + j.placement.num_devices
        free = {(s.id, m): c - used.get((s.id, m), 0) for s in sites for m, c in s.inventory.items()}
    return Snapshot(
        now_s=now,
        sites=sites,
        jobs=jobs,
        free=dict(free),
        throughput=throughput or LiteralThroughput(dict(rates)),
        links=tuple(links),
        tenants={t.id: t for t in tenants},
        seed=seed,
        policy_state=state,
    )


def apply(snap: Snapshot, d: Decision, now: float | None = None, finished: Iterable[str] = (), arrivals: Iterable[JobSpec] = ()) -> Snapshot:
    """The next snapshot after applying `d` (a minimal driver for multi-call tests)."""
    now = snap.now_s if now is None else now
    placed = {p.job_id: p for p in d.placements}
    gone = set(d.preemptions)
    dead = {i.job_id for i in d.infeasible} | set(finished)
    jobs = []
    for j in snap.jobs:
        if j.id in dead:
            continue
        attained = j.attained_at(now)
        time_on = j.time_on_at(now)
        p = j.placement
        if j.id in placed:
            p = placed[j.id]
        elif j.id in gone:
            p = None
        jobs.append(JobView(spec=j.spec, placement=p, as_of_s=now, attained_device_s=attained, time_on_s=time_on))
    jobs.extend(JobView(spec=s, as_of_s=now) for s in arrivals)
    nxt = replace(snap, now_s=now, jobs=(), free={}, policy_state=d.policy_state)
    return snapshot(
        snap.sites,
        jobs,
        snap.throughput.rates,
        now=now,
        links=snap.links,  # type: ignore[attr-defined]
        tenants=snap.tenants.values(),
        state=nxt.policy_state,
        seed=snap.seed,
        throughput=snap.throughput,
    )  # type: ignore[arg-type]


def check_gangs(snap: Snapshot, d: Decision) -> None:
    """No over-allocation, gangs whole at one pool, a job in at most one list."""
    by_id = {j.id: j for j in snap.jobs}
    free = dict(snap.free)
    for jid in d.preemptions:
        j = by_id[jid]
        assert j.placement is not None
        free[j.placement.pool] += j.placement.num_devices
    for p in d.placements:
        j = by_id[p.job_id]
        assert p.num_devices == j.spec.num_devices
        if j.placement is not None and p.job_id not in d.preemptions:
            free[j.placement.pool] += j.placement.num_devices
    for p in d.placements:
        free[p.pool] -= p.num_devices
    assert all(v >= 0 for v in free.values()), free
    ids = [p.job_id for p in d.placements] + list(d.preemptions)
    assert len(ids) == len(set(ids))
