"""`fair-share`: tenants admitted by weighted dominant share with memory; preemption by least work lost.

Rule (Kueue's admission fair sharing with Volcano's checkpoint-aware victims, in compute units):
each waiting job is offered, in turn, to the tenant whose weighted dominant share is lowest
(cpnet.sched.fairshare: DRF over accelerator families of its CU/s now plus its decayed usage,
divided by its weight), so a tenant with many queued jobs gets its tenant's share, not one share
per job; within a tenant, higher priority first, then arrival. A job goes to the model with the
most steps/s among those with a free gang (heterogeneity-aware, as Gavel's perf policies), to the
first such pool in the profile's site order. Jobs that fit nowhere do not block others (Kueue's
BestEffortFIFO).

Quotas (cpnet.sched.quota, Kueue's cohorts) where the snapshot's tenant tree declares them: a job
is offered only the models whose family its tenant's quota, with borrowing, still admits for the
job's CU/s; a job no such model can take waits with a `quota:` reason. A job that fits in its
tenant's own quota (or its team's) may preempt jobs of tenants that borrow (`quota:` reclaim,
Kueue's reclaimWithinCohort), with the same victim rules as below.

A job that fits nowhere may preempt running jobs (cpnet.sched.victims: least work lost first,
never before `min_runtime_s`, at most `max_preemptions` times per job):
- `priority`: jobs of its own tenant with a strictly lower priority;
- `fair-share`: jobs of another tenant when, after the swap (all of the pool's victims together), the preemptor's tenant's share is at
  most the victim's tenant's share (Kueue's LessThanOrEqualToFinalShare).
Why there are no cycles: a fair-share preemption of v by p needs S_p + d_p <= S_v - d_v (shares
after the swap, d > 0 the jobs' shares); preempting back would need S_v <= S_p, which contradicts
S_p < S_v - d_v. A priority preemption needs a strictly higher priority, which is not symmetric.
Over time shares drift (usage decays), so the minimum runtime and the per-job limit bound how often
any job can be stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cpnet.core.model import JobSpec
from cpnet.core.snapshot import Decision, Infeasible, JobView, Placement, Snapshot
from cpnet.core.tenancy import ALL_FAMILIES
from cpnet.sched.feasibility import NetworkIndex, Pool, index_for
from cpnet.sched.framework import Profile
from cpnet.sched.power import PowerRoom
from cpnet.sched.profile import DEFAULT_PROFILE
from cpnet.sched.quota import Quotas
from cpnet.sched.registry import register
from cpnet.sched.rounds import FreeCounts, bool_param
from cpnet.sched.tenant_share import CuRates, TenantBook, UsageMemory, family_of
from cpnet.sched.victims import Candidate, VictimRules, choose_victims, total_lost_device_s


class FairShareState(NamedTuple):
    """What one call hands the next: the network index and the decayed usage read so far."""

    network: NetworkIndex
    usage: UsageMemory  # of the first `log_read` entries of the snapshot's usage log
    log_read: int
    rates: CuRates  # of the snapshot's throughput table (remembered while the table is the same)


@dataclass(frozen=True, slots=True)
class FairSharePolicy:
    """Weighted DRF admission with decayed usage, priority and fair-share preemption (see module)."""

    half_life_s: float = 7 * 86400.0
    rules: VictimRules = field(default_factory=VictimRules)
    preempt: bool = True
    name: str = "fair-share"
    round_s: float | None = None
    only_places_waiting_jobs: bool = False  # it preempts (for waiting jobs) and reads the usage log each call
    reads_usage_log: bool = True
    profile: Profile = DEFAULT_PROFILE

    def decide(self, snapshot: Snapshot) -> Decision:
        prev = snapshot.policy_state if isinstance(snapshot.policy_state, FairShareState) else None
        index = index_for(snapshot, prev.network if prev is not None else None, self.profile)
        log = snapshot.usage_log
        fresh = prev is None or prev.log_read > len(log) or prev.usage.half_life_s != self.half_life_s
        usage = UsageMemory(self.half_life_s) if fresh or prev is None else prev.usage
        rates = prev.rates if prev is not None and prev.rates.table is snapshot.throughput else CuRates(snapshot.throughput)
        usage = usage.read(log[0 if fresh or prev is None else prev.log_read :], snapshot, rates)
        state = FairShareState(index, usage, len(log), rates)
        return _admit(snapshot, index, TenantBook.open(snapshot, usage, rates), self, state)

    def rescan(self, state: Any) -> Any:
        return state  # each call reads every job; the usage memory is the log's, not a per-job cache


def _admit(snapshot: Snapshot, index: NetworkIndex, book: TenantBook, policy: FairSharePolicy, state: FairShareState) -> Decision:
    now = snapshot.now_s
    free = FreeCounts(snapshot.free)
    power = PowerRoom.for_running(snapshot)
    placements: list[Placement] = []
    infeasible: list[Infeasible] = []
    waiting: dict[str, str] = {}
    preempted: dict[str, str] = {}
    queues: dict[str, list[JobView]] = {}
    running: dict[Pool, list[JobView]] = {}
    for jv in snapshot.jobs:
        p = jv.placement
        if p is not None:
            running.setdefault(p.pool, []).append(jv)
            continue
        jp = index.pools_for(jv.spec)
        if jp.reason is not None:
            infeasible.append(Infeasible(jv.id, jp.reason, jp.resolvable))
            continue
        queues.setdefault(jv.spec.tenant, []).append(jv)
    for q in queues.values():  # priority first, then arrival (the snapshot's order is arrival)
        q.sort(key=lambda jv: -jv.spec.priority_weight)
    rates = state.rates
    quotas = _quotas_now(snapshot, rates)
    heads = {t: 0 for t in queues}
    # A shape of a tenant that found no room (free or by preemption) is not tried again in this
    # decision: free devices only shrink as it goes on, so a later try would fail the same way.
    stuck: dict[tuple[str, int, float], str] = {}  # (tenant, id of the shape's JobPools, priority) -> why
    # Likewise a tenant that could not make room by preemption for a gang of n at a priority does
    # not try again for n or more in this decision (its share only rises as the decision goes on).
    no_room: dict[tuple[str, float], int] = {}
    most = max(free.values(), default=0)  # the largest free gang anywhere: larger jobs skip the pool scan
    while heads:
        tenant = min(heads, key=lambda t: (book.share(t), t))
        jv = queues[tenant][heads[tenant]]
        heads[tenant] += 1
        if heads[tenant] == len(queues[tenant]):
            del heads[tenant]
        spec = jv.spec
        jp = index.pools_for(spec)
        n = spec.num_devices
        shape = (tenant, id(jp), spec.priority_weight)
        if shape in stuck:
            waiting[jv.id] = stuck[shape]
            continue
        by_model = jp.by_model
        owed: dict[str, tuple[Pool, ...]] = {}  # models the tenant's own quota holds but others borrow now: reclaimed by preemption only
        lender = None
        bound = quotas is not None and tenant in quotas.tree
        if bound:  # only the models whose family the tenant's quota (with borrowing) still admits
            assert quotas is not None
            lender = _Reclaim(quotas, tenant, spec.job_type, n, rates, snapshot)
            by_model = {m: ps for m, ps in jp.by_model.items() if quotas.admits(tenant, n * rates(m, spec.job_type), family_of(m, snapshot))}
            owed = {m: ps for m, ps in jp.by_model.items() if m not in by_model and lender.fits_own(m)}
            if not by_model and not (owed and policy.preempt):
                waiting[jv.id] = _quota_why(jv, jp.by_model, jp.rate, quotas, rates, snapshot)
                continue
        pool = _best_pool(by_model, jp.rate, free, power, n) if by_model and n <= most else None
        who = (tenant, spec.priority_weight)
        if pool is None and policy.preempt and n < no_room.get(who, n + 1):
            before = set(preempted)
            pool = _make_room(jv, {**by_model, **owed}, jp.rate, free, power, running, preempted, book, policy.rules, now, lender, frozenset(owed))
            if pool is None:
                no_room[who] = n
            elif quotas is not None:  # the victims' CU/s go back to their tenants' quotas
                for v in running[pool]:
                    if v.id in preempted and v.id not in before and v.spec.tenant in quotas.tree:
                        quotas = quotas.release(v.spec.tenant, v.spec.num_devices * rates(pool[1], v.spec.job_type), family_of(pool[1], snapshot))
        if pool is None:
            waiting[jv.id] = stuck[shape] = _why(jv, by_model, free, book, most)
            continue
        placement = Placement(spec.id, pool[0], pool[1], n)
        placements.append(placement)
        power.take(placement)
        free[pool] -= n
        book.take(spec, pool[1], n)
        if bound:
            assert quotas is not None
            quotas = quotas.admit(tenant, n * rates(pool[1], spec.job_type), family_of(pool[1], snapshot))
        most = max(free.values(), default=0)
    return Decision(tuple(placements), tuple(preempted), tuple(infeasible), state, waiting, preempted)


def _best_pool(by_model: Mapping[str, tuple[Pool, ...]], rate: Mapping[str, float], free: FreeCounts, power: PowerRoom, n: int) -> Pool | None:
    """The first pool with a free gang of the fastest model that has one (ties: model name)."""
    for model in sorted(by_model, key=lambda m: (-rate.get(m, 0.0), m)):
        for pool in by_model[model]:
            if free.get(pool, 0) >= n and power.fits(pool[0], pool[1], n):
                return pool
    return None


def _make_room(
    jv: JobView,
    by_model: Mapping[str, tuple[Pool, ...]],
    rate: Mapping[str, float],
    free: FreeCounts,
    power: PowerRoom,
    running: dict[Pool, list[JobView]],
    preempted: dict[str, str],
    book: TenantBook,
    rules: VictimRules,
    now: float,
    lender: _Reclaim | None = None,
    reclaim_only: frozenset[str] = frozenset(),
) -> Pool | None:
    """Preempt the least work lost that frees a gang for `jv` in one pool (fastest models first,
    equal loss: the earlier pool); returns the pool, or None when no allowed victims suffice.
    With `lender`, a borrowing tenant's jobs may also be taken to give the preemptor its own quota back."""
    a = jv.spec
    n = a.num_devices
    # A victim's tenant must stay at least at the preemptor's share after the swap, so only tenants
    # at or above the preemptor's share now can lose a job to it (besides its own lower priorities).
    floor = book.share(a.tenant)
    above: dict[str, bool] = {}
    after_v: dict[tuple[str, str, str, int], float] = {}
    best: tuple[float, Pool, list[Candidate], dict[str, str]] | None = None
    for model in sorted(by_model, key=lambda m: (-rate.get(m, 0.0), m)):
        after_p = book.share_with(a.tenant, a, model, n)
        for pool in by_model[model]:
            allowed: list[Candidate] = []
            why: dict[str, str] = {}
            views_of = {v.id: v for v in running.get(pool, ())}
            for v in running.get(pool, ()):
                b = v.spec
                if v.id in preempted or rules.protected_at(v.as_of_s, v.restarts, now):
                    continue
                if b.tenant == a.tenant:
                    if b.priority_weight >= a.priority_weight:
                        continue
                    why[v.id] = f"priority: {b.priority_weight:g} < {a.priority_weight:g} within tenant {a.tenant}"
                elif lender is not None and lender.may_take(b.tenant, model):
                    why[v.id] = lender.reason(b.tenant, model)
                elif model in reclaim_only:  # quota lent out: only its borrowers give it back
                    continue
                else:
                    ok = above.get(b.tenant)
                    if ok is None:
                        ok = above[b.tenant] = book.share(b.tenant) >= floor
                    if not ok:
                        continue
                    key = (b.tenant, b.job_type, model, b.num_devices)
                    share_v = after_v.get(key)
                    if share_v is None:
                        share_v = after_v[key] = book.share_with(b.tenant, b, model, -b.num_devices)
                    if after_p > share_v:
                        continue
                    why[v.id] = "fair-share"  # worded by _fair_after, with the shares after all of this pool's victims stop
                allowed.append(_candidate(v, now))
            if not allowed:
                continue
            # a reclaim frees quota, not just devices: as many of the borrowers' devices of the model as the job takes
            chosen = choose_victims(n, 0 if model in reclaim_only else free.get(pool, 0), allowed, now, rules)
            if chosen is None or not power.fits_freeing(pool[0], pool[1], n, ((pool[1], c.devices) for c in chosen)):
                continue
            if not _fair_after(a, model, n, [views_of[c.job_id] for c in chosen], book, why):
                continue  # several victims of one tenant would take it below the preemptor
            lost = total_lost_device_s(chosen, now)
            if best is None or lost < best[0]:
                best = (lost, pool, chosen, why)
        if best is not None:
            break  # the fastest model where room can be made
    if best is None:
        return None
    _, pool, chosen, why = best
    views = {v.id: v for v in running[pool]}
    for c in chosen:
        v = views[c.job_id]
        preempted[c.job_id] = f"{why[c.job_id]}; for {a.id}; lost {c.lost_device_s(now):.0f} device-s since its last checkpoint"
        free[pool] += c.devices
        book.release(v.spec, pool[1], c.devices)
        if v.placement is not None:
            power.give(v.placement)
    return pool


def _fair_after(a: JobSpec, model: str, n: int, victims: list[JobView], book: TenantBook, why: dict[str, str]) -> bool:
    """LessThanOrEqualToFinalShare over the whole set: the preemptor's tenant's share with `a` placed
    is at most each victim tenant's share without all of its victims (words the reasons)."""
    others = [v for v in victims if v.spec.tenant != a.tenant and why.get(v.id) == "fair-share"]  # not quota reclaims
    if not others:
        return True
    for v in others:
        book.release(v.spec, model, v.spec.num_devices)
    try:
        after_p = book.share_with(a.tenant, a, model, n)
        after = {t: book.share(t) for t in {v.spec.tenant for v in others}}
    finally:
        for v in others:
            book.take(v.spec, model, v.spec.num_devices)
    if any(after_p > s for s in after.values()):
        return False
    for v in others:
        why[v.id] = f"fair-share: tenant {a.tenant} at {after_p:.3f} <= tenant {v.spec.tenant} at {after[v.spec.tenant]:.3f} after the swap"
    return True


def _candidate(v: JobView, now: float) -> Candidate:
    p = v.placement
    assert p is not None
    checkpoint = v.checkpoint_s
    interval = v.spec.checkpoint_interval_s
    if interval:  # the job's own cadence since the attempt started, when nothing newer was reported
        periodic = v.as_of_s + ((now - v.as_of_s) // interval) * interval
        if periodic > v.as_of_s and (checkpoint is None or periodic > checkpoint):
            checkpoint = periodic
    return Candidate(v.id, v.spec.tenant, v.spec.priority_weight, p.num_devices, v.as_of_s, checkpoint, v.restarts, v.spec.preemptible)


@dataclass(frozen=True, slots=True)
class _Reclaim:
    """Kueue's reclaimWithinCohort: a job that fits in its tenant's own quota (no borrowing) may stop
    jobs of tenants that are borrowing. No cycle: the borrower, over its quota, can never take them
    back this way (it does not fit in its own quota), and its preemptor does not borrow."""

    quotas: Quotas
    tenant: str
    job_type: str
    devices: int
    rates: CuRates
    snapshot: Snapshot

    def _dims(self, family: str) -> list[str]:
        return [d for d in (ALL_FAMILIES, family) if d in self.quotas.enforced()]

    def fits_own(self, model: str) -> bool:
        """The job fits, in every enforced dimension, in the quota of the nearest node that declares one
        (the tenant itself, else its team, else its org): its own quota, not what it could borrow."""
        q, family = self.quotas, family_of(model, self.snapshot)
        dims = self._dims(family)
        if not dims:
            return False
        want = self.devices * self.rates(model, self.job_type)
        tree = q.tree
        upward = tuple(reversed(tree.path(self.tenant)))
        for d in dims:
            owner = next((n for n in upward if tree.node(n).quota(d) is not None), None)
            if owner is None or q.in_use(owner, d) + want > tree.subtree_quota(owner, d) * (1 + 1e-9):
                return False
        return True

    def may_take(self, victim_tenant: str, model: str) -> bool:
        """The job fits in its own quota, and the victim's tenant borrows (on its side of their common ancestor)."""
        q, family = self.quotas, family_of(model, self.snapshot)
        if victim_tenant not in q.tree or not self.fits_own(model):
            return False
        below = set(q.tree.path(victim_tenant)) - set(q.tree.path(self.tenant))
        return any(q.borrowed(n, d) > 1e-9 for n in below for d in self._dims(family))

    def reason(self, victim_tenant: str, model: str) -> str:
        return f"quota: tenant {self.tenant} reclaims its quota on {family_of(model, self.snapshot)} from tenant {victim_tenant}, which borrows"


def _quotas_now(snapshot: Snapshot, rates: CuRates) -> Quotas | None:
    """The tree's quotas with what the running jobs use now (CU/s by tenant and family); None without quotas."""
    tree = snapshot.tenant_tree
    if tree is None or not tree.quota_dimensions():
        return None
    use: dict[str, dict[str, float]] = {}
    for jv in snapshot.jobs:
        p = jv.placement
        if p is not None and jv.spec.tenant in tree:
            row = use.setdefault(jv.spec.tenant, {})
            f = family_of(p.accelerator, snapshot)
            row[f] = row.get(f, 0.0) + p.num_devices * rates(p.accelerator, jv.spec.job_type)
    return Quotas(tree, use)


def _quota_why(jv: JobView, by_model: Mapping[str, tuple[Pool, ...]], rate: Mapping[str, float], quotas: Quotas, rates: CuRates, snapshot: Snapshot) -> str:
    """'quota: ...' for the fastest model the job could use: what it would add, and what the quota leaves."""
    model = min(by_model, key=lambda m: (-rate.get(m, 0.0), m))
    spec = jv.spec
    family = family_of(model, snapshot)
    want = spec.num_devices * rates(model, spec.job_type)
    left = quotas.available(spec.tenant, family)
    return f"quota: tenant {spec.tenant} would use {want:,.1f} CU/s more on {family} ({spec.num_devices} x {model}); its quota and borrowing limit leave {left:,.1f}"


def _why(jv: JobView, by_model: Mapping[str, tuple[Pool, ...]], free: FreeCounts, book: TenantBook, most_anywhere: int) -> str:
    n = jv.spec.num_devices
    devices = f"{n} device{'s' if n != 1 else ''}"
    share = f"tenant {jv.spec.tenant} at share {book.share(jv.spec.tenant):.3f}"
    if n > most_anywhere:
        return f"capacity: wants {devices}, the most free in any pool is {most_anywhere}; no allowed preemption frees enough ({share})"
    most = max((free.get(p, 0) for pools in by_model.values() for p in pools), default=0)
    if most >= n:
        return f"power: a free gang of {devices} is at a site whose power cap it would exceed"
    return f"capacity: wants {devices}, the most free in a usable pool is {most}; no allowed preemption frees enough ({share})"


@register("fair-share", {"half_life_s": 7 * 86400.0, "min_runtime_s": 600.0, "max_preemptions": 3, "preempt": True})
def make_fair_share(params: Mapping[str, Any]) -> FairSharePolicy:
    """fair-share = weighted DRF admission over decayed CU usage + least-work-lost preemption + DEFAULT_PROFILE."""
    half_life_s = float(params["half_life_s"])
    if not half_life_s > 0:
        raise ValueError(f"policy param 'half_life_s' must be > 0 s, got {params['half_life_s']!r}")
    rules = VictimRules(float(params["min_runtime_s"]), int(params["max_preemptions"]))
    return FairSharePolicy(half_life_s, rules, bool_param(params["preempt"], "preempt"), profile=DEFAULT_PROFILE)
