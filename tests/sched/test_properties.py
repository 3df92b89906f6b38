"""Property tests of `schedule()` for every registered policy, on random small networks and jobs.

Each example draws a network (1-5 sites, 1-4 catalog accelerator models with throughput data, device
counts including 0, some sites down, links, tenants with weights) and a job set (waiting and running
jobs with consistent placements that fit, gangs of 1-8, priority weights, allowed accelerators and
sites, data sites with latency SLOs), then runs two decisions in sequence, feeding `policy_state`
forward through a minimal driver (finishes, arrivals, a site going down or coming back, devices held
outside the scheduler's view, as the control plane's cancelled-but-not-released jobs hold them).
After each decision it checks:

(a) no over-allocation: per pool, devices used after the decision (placements plus running jobs not
    preempted or moved) <= devices used before + `free`, hence <= the pool's capacity;
(b) gangs whole: a placement has exactly the job's `num_devices`, of one model at one site, on a pool
    that can hold the whole gang by the domain rules (allowed models and sites, inventory >= gang,
    positive throughput, latency SLO from the data site), checked by an oracle written here from
    those rules, which the feasibility module must also agree with;
(c) placements only on up sites and existing pools; every named job exists and is named at most once
    (placements, preemptions, infeasible together, as the simulator enforces); preemptions name only
    running jobs; infeasible names only waiting jobs that no pool can hold, and all of them;
(d) `schedule()` does not mutate its snapshot (a structural fingerprint, policy_state included, is
    equal before and after; the one exception is `NetworkIndex`'s documented per-shape memo, which may
    gain entries but never change one);
(e) determinism: the same two-step sequence, rebuilt from a deep copy, gives equal Decisions,
    policy_state included.

Policies that declare `only_places_waiting_jobs` are checked never to preempt or move, and to return
an empty Decision when nothing waits; `fifo`'s incremental state is checked against a full rescan.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cpnet.catalog import load_throughputs
from cpnet.core.model import Accelerator, JobKind, JobSpec, Link, Site, Tenant, Tier
from cpnet.core.snapshot import Decision, JobView, Placement, Snapshot
from cpnet.sched import schedule
from cpnet.sched.feasibility import NetworkIndex
from cpnet.sched.framework import Policy
from cpnet.sched.registry import make_policy, policy_names
from cpnet.sched.tenant_share import CuRates

_THROUGHPUT = load_throughputs()
CATALOG = _THROUGHPUT.catalog
JOB_TYPES = tuple(_THROUGHPUT.job_types())
MODELS = tuple(m for m in CATALOG if any(_THROUGHPUT.steps_per_s(t, m, 1) for t in JOB_TYPES))
NO_DATA_MODELS = tuple(m for m in CATALOG if m not in MODELS)  # e.g. MLU590: "cannot run there"
MAX_GANG = 8
ROUND_S = 360.0


@dataclass(frozen=True)
class TableThroughput:
    """The catalog's throughput model, tabulated for the drawn types and models (value equality)."""

    rates: Mapping[tuple[str, str, int], float | None]

    def __repr__(self) -> str:  # falsifying examples print the world; the table is derived from it
        return f"TableThroughput(<{len(self.rates)} rates>)"

    def steps_per_s(self, job_type: str, accelerator: str, num_devices: int) -> float | None:
        return self.rates.get((job_type, accelerator, num_devices))


@dataclass(frozen=True)
class World:
    """What a driver knows: every site (up or not), the jobs, and devices held outside the views."""

    sites: tuple[Site, ...]
    up: frozenset[str]
    links: tuple[Link, ...]
    tenants: tuple[Tenant, ...]
    views: tuple[JobView, ...]  # arrival order
    held: Mapping[tuple[str, str], int]
    now_s: float
    seed: int


def build_snapshot(world: World, table: TableThroughput, state: Any) -> Snapshot:
    """The snapshot a driver builds: up sites, the known down ones apart; free = capacity - running views - held."""
    sites = tuple(s for s in world.sites if s.id in world.up)
    down = tuple(s for s in world.sites if s.id not in world.up)
    used = usage(world.views)
    free = {(s.id, m): c - used.get((s.id, m), 0) - world.held.get((s.id, m), 0) for s in sites for m, c in s.inventory.items() if c > 0}
    models = sorted({m for s in world.sites for m in s.inventory})
    catalog: dict[str, Accelerator] = {m: CATALOG[m] for m in models}
    return Snapshot(world.now_s, sites, world.views, free, table, catalog, world.links, {t.id: t for t in world.tenants}, world.seed, state, down)


def usage(views: tuple[JobView, ...] | list[JobView]) -> dict[tuple[str, str], int]:
    used: dict[tuple[str, str], int] = {}
    for v in views:
        if v.placement is not None:
            used[v.placement.pool] = used.get(v.placement.pool, 0) + v.placement.num_devices
    return used


# ---- strategies ---------------------------------------------------------------------------------

WEIGHTS = (1e-3, 0.5, 1.0, 3.0, 1000.0)  # within the API's bounds (1e-3 .. 1000)


def rarely(draw: st.DrawFn) -> bool:
    """True about one time in four: keeps most jobs feasible while covering every restriction."""
    return draw(st.integers(0, 3)) == 0


@st.composite
def specs(draw: st.DrawFn, jid: str, arrival: float, models: list[str], types: list[str], site_ids: list[str], tenant_ids: list[str]) -> JobSpec:
    accelerators = None
    if rarely(draw):  # allowed models: the network's, plus one without data and one maybe absent
        accelerators = draw(st.frozensets(st.sampled_from(models + list(NO_DATA_MODELS[:1]) + ["H100"]), min_size=1, max_size=3))
    sites = draw(st.frozensets(st.sampled_from([*site_ids, "gone"]), min_size=1, max_size=3)) if rarely(draw) else None
    data_site = draw(st.sampled_from(site_ids)) if draw(st.booleans()) else None
    slo = draw(st.sampled_from([0.0, 5.0, 30.0])) if data_site is not None and rarely(draw) else None
    gang = draw(st.integers(1, 2)) if draw(st.booleans()) else draw(st.integers(1, MAX_GANG))
    job_type = "no-such-type" if draw(st.integers(0, 15)) == 0 else draw(st.sampled_from(types))
    return JobSpec(
        id=jid,
        tenant=draw(st.sampled_from([*tenant_ids, "unknown-tenant"])),
        job_type=job_type,
        num_devices=gang,
        total_steps=draw(st.sampled_from([1.0, 100.0, 1e4, 1e6])),
        arrival_s=arrival,
        kind=draw(st.sampled_from(list(JobKind))),
        priority_weight=draw(st.sampled_from(WEIGHTS)),
        accelerators=accelerators,
        sites=sites,
        data_site=data_site,
        data_gb=draw(st.sampled_from([0.0, 10.0])),
        latency_slo_ms=slo,
    )


def tabulate(types: list[str], models: list[str]) -> TableThroughput:
    wanted = set(models) | set(NO_DATA_MODELS[:1]) | {"H100"}
    return TableThroughput({(t, m, n): _THROUGHPUT.steps_per_s(t, m, n) for t in types for m in sorted(wanted) for n in range(1, MAX_GANG + 1)})


@st.composite
def worlds(draw: st.DrawFn, max_jobs: int) -> tuple[World, TableThroughput]:
    models = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=4, unique=True))
    types = draw(st.lists(st.sampled_from(JOB_TYPES), min_size=1, max_size=3, unique=True))
    table = tabulate(types, models)
    sites = []
    for i in range(draw(st.integers(1, 5))):
        inventory = {}
        for m in models:
            presence = draw(st.integers(0, 5))  # 0: the model is absent, 1: listed with 0 devices
            if presence:
                inventory[m] = 0 if presence == 1 else draw(st.integers(1, 8))
        sites.append(
            Site(
                id=f"s{i}",
                tier=draw(st.sampled_from(list(Tier))),
                region="r",
                lat=0.0,
                lon=0.0,
                inventory=inventory,
                pue=draw(st.sampled_from([1.0, 1.4])),
                price_usd_per_kwh=draw(st.sampled_from([0.05, 0.1, 0.3])),
            )
        )
    site_ids = [s.id for s in sites]
    pairs = [(a, b) for i, a in enumerate(site_ids) for b in site_ids[i + 1 :]]
    links: tuple[Link, ...] = ()
    if pairs:
        chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
        links = tuple(Link(a, b, draw(st.sampled_from([1.0, 4.0, 20.0])), 10.0) for a, b in chosen)
    tenants = tuple(Tenant(f"t{i}", draw(st.sampled_from(WEIGHTS))) for i in range(draw(st.integers(1, 3))))
    tenant_ids = [t.id for t in tenants]

    arrival = draw(st.sampled_from([0.0, 100.0]))
    job_specs = []
    for i in range(draw(st.integers(0, max_jobs))):
        arrival += draw(st.sampled_from([0.0, 0.0, 1.0, 30.0]))
        job_specs.append(draw(specs(f"j{i}", arrival, models, types, site_ids, tenant_ids)))
    now = arrival + draw(st.sampled_from([0.0, 10.0, ROUND_S, 5000.0]))

    # running jobs: consistent placements that fit, on pools feasibility allows (any site, up or not)
    full = NetworkIndex.build(Snapshot(now, tuple(sites), (), {}, table, links=links))
    room = {(s.id, m): c for s in sites for m, c in s.inventory.items() if c > 0}
    views = []
    for spec in job_specs:
        jp = full.pools_for(spec)
        fits = [p for p in jp.pools if room[p] >= spec.num_devices]
        attained = draw(st.sampled_from([0.0, 0.0, 500.0]))
        steps = draw(st.sampled_from([0.0, 0.5])) * spec.total_steps
        restarts = draw(st.integers(0, 2)) if attained else 0
        if draw(st.booleans()) and fits:
            pool = draw(st.sampled_from(fits))
            room[pool] -= spec.num_devices
            as_of = draw(st.floats(spec.arrival_s, now, allow_nan=False))
            rate = table.steps_per_s(spec.job_type, pool[1], spec.num_devices) or 0.0
            views.append(
                JobView(
                    spec,
                    Placement(spec.id, pool[0], pool[1], spec.num_devices),
                    as_of,
                    attained,
                    steps,
                    rate,
                    {pool: draw(st.sampled_from([0.0, 50.0]))},
                    restarts,
                )
            )
        else:
            views.append(JobView(spec, None, draw(st.sampled_from([spec.arrival_s, now])), attained, steps, 0.0, {}, restarts))
    up = frozenset(s.id for s in sites if draw(st.sampled_from([True, True, True, False])))
    held = {p: draw(st.integers(0, left)) for p, left in sorted(room.items()) if left and draw(st.integers(0, 4)) == 0}
    world = World(tuple(sites), up, links, tenants, tuple(views), held, now, draw(st.integers(0, 2**32 - 1)))
    return world, table


@dataclass(frozen=True)
class Step:
    """What happens between two decisions (drawn once, replayed for the determinism run)."""

    gap_s: float
    finished: frozenset[str]
    arrivals: tuple[JobSpec, ...]
    flip_site: str | None  # a site that goes down, or comes back up
    release_held: bool


def draw_step(data: st.DataObject, world: World, table: TableThroughput, d: Decision) -> Step:
    gap = data.draw(st.sampled_from([0.0, ROUND_S, 1000.0, 2000.0]), label="gap_s")
    running = sorted(j.id for j in advance(world, d, Step(gap, frozenset(), (), None, False), table).views if j.placement is not None)
    finished = data.draw(st.frozensets(st.sampled_from(running)) if running else st.just(frozenset()), label="finished")
    tail = world.views[-1].spec.arrival_s if world.views else 0.0
    site_ids = [s.id for s in world.sites]
    models = sorted({m for s in world.sites for m in s.inventory})
    types = sorted({t for t, _, _ in table.rates})
    tenant_ids = [t.id for t in world.tenants]
    arrivals = []
    for i in range(data.draw(st.integers(0, 3), label="arrivals")):
        at = data.draw(st.sampled_from([tail, world.now_s + gap]), label="arrival_s")
        arrivals.append(data.draw(specs(f"k{i}", at, models, types, site_ids, tenant_ids)))
    arrivals.sort(key=lambda s: s.arrival_s)
    flip = data.draw(st.one_of(st.none(), st.sampled_from(site_ids)), label="flip_site")
    return Step(gap, finished, tuple(arrivals), flip, data.draw(st.booleans(), label="release_held"))


def advance(world: World, d: Decision, step: Step, table: TableThroughput) -> World:
    """Apply `d` at world.now_s as the simulator does, then let `step` happen until the next call."""
    now = world.now_s
    placed = {p.job_id: p for p in d.placements}
    preempted = set(d.preemptions)
    dead = {i.job_id for i in d.infeasible} | step.finished
    views = []
    for j in world.views:
        if j.id in dead:
            continue
        p = placed.get(j.id)
        if p is not None and p != j.placement:
            rate = table.steps_per_s(j.spec.job_type, p.accelerator, p.num_devices) or 0.0
            restarts = j.restarts + (1 if j.placement is not None or j.attained_device_s > 0 else 0)
            j = JobView(j.spec, p, now, j.attained_at(now), j.steps_at(now), rate, j.time_on_at(now), restarts)
        elif j.id in preempted:
            j = JobView(j.spec, None, now, j.attained_at(now), j.steps_at(now), 0.0, j.time_on_at(now), j.restarts)
        views.append(j)
    views += [JobView(s, None, s.arrival_s) for s in step.arrivals]
    up = world.up
    if step.flip_site is not None:
        up = up - {step.flip_site} if step.flip_site in up else up | {step.flip_site}
    # devices held outside the views stay held (never more than the pool has left) or are released
    used = usage(views)
    held = (
        {}
        if step.release_held
        else {p: min(n, max(0, next(s.inventory.get(p[1], 0) for s in world.sites if s.id == p[0]) - used.get(p, 0))) for p, n in world.held.items()}
    )
    return dataclasses.replace(world, up=up, views=tuple(views), held=held, now_s=now + step.gap_s)


# ---- invariants ---------------------------------------------------------------------------------


def latencies(snap: Snapshot) -> dict[tuple[str, str], float]:
    """Shortest latency between every two sites (Floyd-Warshall; an oracle independent of the code)."""
    nodes = {s.id for s in snap.sites + snap.down_sites} | {x for link in snap.links for x in (link.a, link.b)}
    dist = {(a, b): 0.0 if a == b else math.inf for a in nodes for b in nodes}
    for link in snap.links:
        dist[(link.a, link.b)] = dist[(link.b, link.a)] = min(dist[(link.a, link.b)], link.latency_ms)
    for k in nodes:
        for a in nodes:
            for b in nodes:
                dist[(a, b)] = min(dist[(a, b)], dist[(a, k)] + dist[(k, b)])
    return dist


def oracle_pools(snap: Snapshot, spec: JobSpec, dist: Mapping[tuple[str, str], float], *, down_too: bool = False) -> set[tuple[str, str]]:
    """Pools that can hold the whole gang, from the domain rules (model.JobSpec, feasibility docs);
    over the up sites, or with `down_too` over every known site."""
    out = set()
    for s in snap.sites + (snap.down_sites if down_too else ()):
        if spec.sites is not None and s.id not in spec.sites:
            continue
        if spec.latency_slo_ms is not None and spec.data_site is not None and dist.get((spec.data_site, s.id), math.inf) > spec.latency_slo_ms:
            continue
        if spec.data_gb > 0 and spec.data_site is not None and s.id != spec.data_site and math.isinf(dist.get((spec.data_site, s.id), math.inf)):
            continue  # the data cannot be copied there
        for m, c in s.inventory.items():
            if c < spec.num_devices or (spec.accelerators is not None and m not in spec.accelerators):
                continue
            rate = snap.throughput.steps_per_s(spec.job_type, m, spec.num_devices)
            if rate is not None and rate > 0:
                out.add((s.id, m))
    return out


def check_decision(snap: Snapshot, d: Decision, policy: Policy) -> None:
    """(a), (b), (c) of the module docstring, plus the `only_places_waiting_jobs` contract."""
    by_id = {j.id: j for j in snap.jobs}
    named = [p.job_id for p in d.placements] + list(d.preemptions) + [i.job_id for i in d.infeasible]
    assert len(named) == len(set(named)), f"a job is named twice: {named}"
    assert set(named) <= set(by_id), f"unknown jobs named: {set(named) - set(by_id)}"
    index = NetworkIndex.build(snap)
    dist = latencies(snap)
    allowed = {j.id: oracle_pools(snap, j.spec, dist) for j in snap.jobs}
    for j in snap.jobs:  # the feasibility module agrees with the rules, and gives a reason iff none
        jp = index.pools_for(j.spec)
        assert set(jp.pools) == allowed[j.id], f"feasibility of {j.id}: {sorted(jp.pools)} != {sorted(allowed[j.id])}"
        assert (jp.reason is None) == bool(allowed[j.id]), f"{j.id}: reason {jp.reason!r} with pools {allowed[j.id]}"
    up = {s.id: s for s in snap.sites}
    for jid in d.preemptions:
        assert by_id[jid].placement is not None, f"preempted job {jid} is not running"
    reported = {i.job_id for i in d.infeasible}
    for inf in d.infeasible:
        jv = by_id[inf.job_id]
        assert jv.placement is None, f"running job {jv.id} declared infeasible"
        assert not allowed[jv.id], f"{jv.id} declared infeasible but {sorted(allowed[jv.id])} can hold it"
        assert inf.reason
        # wait iff a known site that is down could hold it; fail iff no known site ever can
        assert inf.resolvable == bool(oracle_pools(snap, jv.spec, dist, down_too=True)), f"{jv.id}: resolvable={inf.resolvable} ({inf.reason})"
    for jv in snap.jobs:
        if jv.placement is None and not allowed[jv.id]:
            assert jv.id in reported, f"waiting job {jv.id} can never run but is not reported infeasible"
    for p in d.placements:
        spec = by_id[p.job_id].spec
        assert p.num_devices == spec.num_devices, f"gang of {p.job_id} split: {p.num_devices} != {spec.num_devices}"
        assert p.site in up, f"{p.job_id} placed at {p.site}, which is not up"
        assert up[p.site].inventory.get(p.accelerator, 0) >= spec.num_devices, f"{p} on a pool too small"
        assert p.pool in snap.capacity(), f"{p} on a pool that does not exist"
        assert spec.accelerators is None or p.accelerator in spec.accelerators, f"{p} not allowed: {spec.accelerators}"
        assert spec.sites is None or p.site in spec.sites, f"{p} not allowed: {spec.sites}"
        rate = snap.throughput.steps_per_s(spec.job_type, p.accelerator, p.num_devices)
        assert rate is not None and rate > 0, f"{p} where the job cannot run (rate {rate})"
        assert p.pool in allowed[p.job_id], f"{p} not a pool that can hold the job (latency SLO?)"
    before = usage(snap.jobs)
    after = dict(before)
    released = set(d.preemptions) | {p.job_id for p in d.placements}  # stopped, or moved (released first)
    for jv in snap.jobs:
        if jv.placement is not None and jv.id in released:
            after[jv.placement.pool] -= jv.placement.num_devices
    for p in d.placements:
        after[p.pool] = after.get(p.pool, 0) + p.num_devices
    capacity = snap.capacity()
    for pool, n in after.items():
        if n > before.get(pool, 0):  # the decision added devices here
            limit = before.get(pool, 0) + snap.free.get(pool, 0)
            assert n <= limit, f"pool {pool} over-allocated: {n} used, {before.get(pool, 0)} before + {snap.free.get(pool, 0)} free"
            assert n <= capacity.get(pool, 0), f"pool {pool} over capacity: {n} > {capacity.get(pool, 0)}"
    if policy.only_places_waiting_jobs:
        assert not d.preemptions, "a policy that only places waiting jobs preempted"
        assert all(by_id[p.job_id].placement is None for p in d.placements), "it moved a running job"
        if all(j.placement is not None for j in snap.jobs):
            assert d.empty, "nothing waits, yet the decision is not empty"


def fingerprint(x: Any, caches: list[tuple[str, dict[Any, Any]]] | None = None, path: str = "") -> Any:
    """A structural value of `x` for equality (floats exactly, NaN equal to itself).

    With `caches` given, a `NetworkIndex`'s memo fields are left out of the value and collected
    there instead, for the grow-only check; otherwise they are part of it.
    """
    if isinstance(x, NetworkIndex) and caches is not None:
        caches.append((path, {"_memo": dict(x._memo), "_inventory": dict(x._inventory)}))
        return ("NetworkIndex", fingerprint(x.sites), fingerprint(x.links), fingerprint(x.throughput), fingerprint(x.paths.latency_ms))
    if isinstance(x, CuRates):  # a memo of the table's ratios (grow-only, like the index's)
        return ("CuRates", fingerprint(x.table))
    if isinstance(x, TableThroughput):  # the biggest value in a snapshot: flat, without recursion
        return ("TableThroughput", tuple(sorted(x.rates.items())))
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, tuple((f.name, fingerprint(getattr(x, f.name), caches, f"{path}.{f.name}")) for f in dataclasses.fields(x)))
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # NamedTuple
        return (type(x).__name__, tuple((n, fingerprint(v, caches, f"{path}.{n}")) for n, v in zip(x._fields, x, strict=True)))
    if isinstance(x, Enum):
        return (type(x).__name__, x.value)
    if isinstance(x, Mapping):
        items = [(fingerprint(k), fingerprint(v, caches, f"{path}[{k!r}]")) for k, v in x.items()]
        return ("map", tuple(sorted(items, key=repr)))
    if isinstance(x, (list, tuple)):
        return tuple(fingerprint(v, caches, f"{path}[{i}]") for i, v in enumerate(x))
    if isinstance(x, (set, frozenset)):
        return ("set", tuple(sorted((fingerprint(v) for v in x), key=repr)))
    if isinstance(x, float):
        return "nan" if math.isnan(x) else x
    if isinstance(x, np.ndarray):
        return ("array", x.tolist())
    if x is None or isinstance(x, (str, int, bool)):
        return x
    raise TypeError(f"no fingerprint for {type(x).__name__} at {path or '<root>'}: extend fingerprint()")


def decide_checked(snap: Snapshot, policy: Policy) -> Decision:
    """schedule() with (a)-(c) checked and (d): the snapshot is the same afterwards."""
    caches_before: list[tuple[str, dict[Any, Any]]] = []
    before = fingerprint(snap, caches_before)
    d = schedule(snap, policy)
    caches_after: list[tuple[str, dict[Any, Any]]] = []
    assert fingerprint(snap, caches_after) == before, "schedule() mutated its snapshot"
    for (path, old), (_, new) in zip(caches_before, caches_after, strict=True):
        for name, memo in old.items():
            for k, v in memo.items():  # a memo may grow; an entry never changes
                assert k in new[name] and fingerprint(new[name][k]) == fingerprint(v), f"{path}.{name}[{k!r}] changed"
    check_decision(snap, d, policy)
    return d


def run_two_steps(world: World, table: TableThroughput, policy: Policy, step_of: Any) -> tuple[Snapshot, Decision, Snapshot, Decision]:
    s1 = build_snapshot(world, table, None)
    d1 = decide_checked(s1, policy)
    step = step_of(world, d1)
    s2 = build_snapshot(advance(world, d1, step, table), table, d1.policy_state)
    d2 = decide_checked(s2, policy)
    return s1, d1, s2, d2


def note_coverage(snap: Snapshot, d: Decision) -> None:
    """Label what an example exercised (`pytest --hypothesis-show-statistics` lists the shares)."""
    running = {j.id for j in snap.jobs if j.placement is not None}
    up = {s.id for s in snap.sites}
    event("placements" if d.placements else "no placements")
    if any(p.job_id in running for p in d.placements):
        event("moves")
    if d.preemptions:
        event("preemptions")
    if d.infeasible:
        event("infeasible")
    used = usage(snap.jobs)
    if any(c - used.get(p, 0) > snap.free.get(p, 0) for p, c in snap.capacity().items()):
        event("devices held outside the jobs")
    if any(j.placement.site not in up for j in snap.jobs if j.placement is not None):
        event("a job running on a down site")


# ---- the tests ----------------------------------------------------------------------------------

ROUND_MODE = {"fifo": {"round_s": ROUND_S}}  # event-driven policies that also have a round mode


def variants() -> list[tuple[str, dict[str, Any]]]:
    """Every registered policy with its defaults, its round mode, and rounds that reset every call."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name in policy_names():
        params: list[dict[str, Any]] = [{}]
        if make_policy(name).round_s is None and name in ROUND_MODE:
            params.append(dict(ROUND_MODE[name]))
        for p in list(params):
            if make_policy(name, p).round_s is not None:
                params.append({**p, "reset_interval_s": 0.0})
        out += [(name, p) for p in params]
    return out


def _id(v: tuple[str, dict[str, Any]]) -> str:
    name, params = v
    return name + ("[" + ",".join(f"{k}={params[k]:g}" for k in sorted(params)) + "]" if params else "")


VARIANTS = variants()
# fixed examples (derandomize), no example database written into the checkout, no deadline (LPs)
SETTINGS = settings(derandomize=True, deadline=None, database=None, print_blob=False, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_every_registered_policy_is_covered() -> None:
    assert {name for name, _ in VARIANTS} == set(policy_names())
    assert {"fifo", "gavel-fifo", "gavel-las", "las"} <= set(policy_names())


def check_variant(variant: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    name, params = variant
    policy = make_policy(name, params)
    event_driven = policy.round_s is None
    world, table = data.draw(worlds(max_jobs=10 if event_driven else 6), label="world")
    # run A draws what happens between the two calls; run B replays it on a deep copy
    steps: list[Step] = []

    def step_a(w: World, d: Decision) -> Step:
        steps.append(draw_step(data, w, table, d))
        return steps[-1]

    s1, a1, s2, a2 = run_two_steps(world, table, policy, step_a)
    note_coverage(s1, a1)
    note_coverage(s2, a2)
    world_b, table_b = copy.deepcopy((world, table))
    _, b1, _, b2 = run_two_steps(world_b, table_b, make_policy(name, dict(params)), lambda w, d: steps[0])
    assert fingerprint(b1) == fingerprint(a1), "same snapshot, different first decision"
    assert fingerprint(b2) == fingerprint(a2), "same snapshot and state, different second decision"
    if name == "fifo" and event_driven:  # fifo's O(changes) state must not change what it decides
        fresh = schedule(dataclasses.replace(s2, policy_state=None), policy)
        assert fresh.placements == a2.placements
        assert sorted(fresh.infeasible, key=lambda i: i.job_id) == sorted(a2.infeasible, key=lambda i: i.job_id)


EVENT = [v for v in VARIANTS if make_policy(*v).round_s is None]
ROUNDS = [v for v in VARIANTS if v not in EVENT]  # these solve an LP or run the round mechanism: fewer


@pytest.mark.parametrize("variant", EVENT, ids=_id)
@settings(SETTINGS, max_examples=300)
@given(data=st.data())
def test_event_driven_policies_keep_the_invariants(variant: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    check_variant(variant, data)


@pytest.mark.parametrize("variant", ROUNDS, ids=_id)
@settings(SETTINGS, max_examples=100)
@given(data=st.data())
def test_round_policies_keep_the_invariants(variant: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    check_variant(variant, data)
