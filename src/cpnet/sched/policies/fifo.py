"""`fifo`: heterogeneity-agnostic first-come-first-served, non-preemptive, event-driven.

Rule (Gavel's `FIFOPolicy(mode='base')`, OSDI'20 baseline): waiting jobs start strictly in arrival
order; the first job that fits nowhere blocks everyone behind it (no backfilling). The accelerator
model is chosen without looking at throughput: uniformly at random among the models that have a
feasible pool with enough free devices now (Gavel draws `randrange` over the sorted available worker
types from a seeded RNG; here the draw is `seeded.pick(snapshot.seed, job id, k)`, so it does not
depend on call order). The site is the first pool of that model, in the feasibility module's site
preference order (data site, latency, energy price, id), with enough free devices (and, at a site
with a power cap, room under the cap beside the running jobs: cpnet.sched.power).

With params {"round_s": R} the same rule runs as Gavel's simulator runs it: in R-second rounds
through Gavel's round mechanism (cpnet.sched.rounds), where the allocation (job -> model, kept
while the job lives) is extended only at allocation resets (job set changed and at least
reset_interval_s, default 1920 s, since the last), jobs without allocation are not scheduled, and
devices freed in between stay idle until then (`work_conserving=True`, an improvement, gives
them to the jobs without allocation). The event-driven default has none of that delay.

Cost per call is O(changes): the state remembers the blocked head of the queue and the newest
arrival seen, so a call that cannot start the head returns after checking the head's pools, and new
arrivals are found by scanning back from the tail. This relies on jobs returning to the queue only
through preemptions, which `fifo` never makes; a driver that requeues jobs by itself must pass
`policy_state=None` (a full scan) on the next call.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from cpnet.core.snapshot import Decision, Infeasible, JobView, Placement, Snapshot
from cpnet.sched.feasibility import JobPools, NetworkIndex, Pool, index_for
from cpnet.sched.framework import Profile
from cpnet.sched.power import PowerRoom
from cpnet.sched.profile import DEFAULT_PROFILE
from cpnet.sched.registry import register
from cpnet.sched.rounds import Alloc, AllocInput, FreeCounts, RoundPolicy, round_params
from cpnet.sched.seeded import pick

# Chooses a pool for a waiting job given free devices, or None when none fits now.
PoolChooser = Callable[[JobView, JobPools, Mapping[Pool, int], int], Pool | None]


class FifoState(NamedTuple):
    """What one call hands the next. A NamedTuple, not a dataclass: one is made per call, and a
    replay makes one per arrival (frozen dataclasses cost a `object.__setattr__` per field)."""

    network: NetworkIndex  # not `index`, which would shadow tuple.index
    head: tuple[str, float] | None  # (id, arrival_s) of the first job left waiting
    tail_arrival_s: float
    tail_ids: frozenset[str]  # ids already seen whose arrival_s == tail_arrival_s


def choose_agnostic(job: JobView, jp: JobPools, free: Mapping[Pool, int], seed: int) -> Pool | None:
    """A seeded uniform draw among the models with room; the first pool with room of that model."""
    n = job.spec.num_devices
    fits: list[Pool] = []  # the first pool with room of each model, models in name order
    if isinstance(free, FreeCounts):  # first-fit cursors: amortised O(1) per model
        for pools in jp.by_model.values():
            p = free.first_fit(pools, n)
            if p is not None:
                fits.append(p)
    else:
        room = free.get
        for pools in jp.by_model.values():
            for p in pools:
                if room(p, 0) >= n:
                    fits.append(p)
                    break
    if not fits:
        return None
    return fits[pick(seed, job.spec.id, len(fits))] if len(fits) > 1 else fits[0]


class _PowerMasked(Mapping[Pool, int]):
    """Free devices as a chooser sees them at capped sites: 0 where the gang would exceed the cap."""

    __slots__ = ("_free", "_power", "_n")

    def __init__(self, free: Mapping[Pool, int], power: PowerRoom, n: int) -> None:
        self._free, self._power, self._n = free, power, n

    def __getitem__(self, pool: Pool) -> int:
        return self._free[pool] if self._power.fits(pool[0], pool[1], self._n) else 0

    def __iter__(self) -> Iterator[Pool]:
        return iter(self._free)

    def __len__(self) -> int:
        return len(self._free)


def _first_new(jobs: Sequence[JobView], st: FifoState | None) -> int:
    """Index of the first job not seen by the previous call (new arrivals are a tail run)."""
    if st is None:
        return 0
    tail_arrival_s, tail_ids = st.tail_arrival_s, st.tail_ids
    i = len(jobs)
    while i > 0:
        spec = jobs[i - 1].spec
        arrival_s = spec.arrival_s
        if arrival_s < tail_arrival_s or (arrival_s == tail_arrival_s and spec.id in tail_ids):
            break
        i -= 1
    return i


def _locate(jobs: Sequence[JobView], job_id: str, arrival_s: float) -> int | None:
    i = bisect_left(jobs, arrival_s, key=lambda j: j.spec.arrival_s)
    while i < len(jobs) and jobs[i].spec.arrival_s == arrival_s:
        if jobs[i].spec.id == job_id:
            return i
        i += 1
    return None


def _state(jobs: Sequence[JobView], index: NetworkIndex, prev: FifoState | None, head: tuple[str, float] | None) -> FifoState:
    """The state for the next call: `head`, and the ids of the jobs at the tail's arrival time."""
    if not jobs:
        if prev is None:
            return FifoState(index, head, float("-inf"), frozenset())
        return FifoState(index, head, prev.tail_arrival_s, prev.tail_ids)
    last = jobs[-1].spec
    last_s = last.arrival_s
    i = len(jobs) - 1
    if i == 0 or jobs[i - 1].spec.arrival_s != last_s:  # the usual case: one job at the tail time
        return FifoState(index, head, last_s, frozenset((last.id,)))
    ids = []
    while i >= 0 and jobs[i].spec.arrival_s == last_s:
        ids.append(jobs[i].spec.id)
        i -= 1
    return FifoState(index, head, last_s, frozenset(ids))


def decide_fifo(snapshot: Snapshot, choose: PoolChooser, profile: Profile = DEFAULT_PROFILE) -> Decision:
    """Strict FIFO over waiting jobs with `choose` picking each job's pool; see module docstring."""
    prev = snapshot.policy_state if isinstance(snapshot.policy_state, FifoState) else None
    index = index_for(snapshot, prev.network if prev is not None else None, profile)
    if prev is not None and prev.network is not index:
        prev = None  # the network changed: rescan everything
    jobs = snapshot.jobs
    n_jobs = len(jobs)
    new_from = _first_new(jobs, prev)
    start = new_from
    if prev is not None:
        if prev.head is None:
            if new_from == n_jobs:
                return Decision((), (), (), prev)  # nothing waiting, nothing new
        else:
            pos = _locate(jobs, *prev.head)
            start = 0 if pos is None else pos
            if pos is not None:
                head = jobs[pos]
                n = head.spec.num_devices
                free_now = snapshot.free
                if not any(free_now.get(p, 0) >= n for p in index.pools_for(head.spec).pools):
                    if new_from == n_jobs:
                        return Decision((), (), (), prev)
                    infeasible = _infeasible(jobs, new_from, index)
                    return Decision((), (), infeasible, _state(jobs, index, prev, prev.head))

    free = FreeCounts(snapshot.free)
    power = PowerRoom.for_running(snapshot)
    seed = snapshot.seed
    pools_for = index.pools_for
    placements: list[Placement] = []
    infeasible_l: list[Infeasible] = []
    head_out: tuple[str, float] | None = None
    i = start
    while i < n_jobs:
        jv = jobs[i]
        i += 1
        if jv.placement is not None:
            continue
        spec = jv.spec
        jp = pools_for(spec)
        if jp.reason is not None:
            infeasible_l.append(Infeasible(spec.id, jp.reason, jp.resolvable))
            continue
        pool = choose(jv, jp, free if not power.capped else _PowerMasked(free, power, spec.num_devices), seed)
        if pool is None:
            head_out = (spec.id, spec.arrival_s)
            break
        n = spec.num_devices
        placement = Placement(spec.id, pool[0], pool[1], n)
        placements.append(placement)
        power.take(placement)
        free[pool] -= n
    rest = max(i, new_from)
    if rest < n_jobs:  # new arrivals behind a blocked head: report the ones that can never run
        infeasible_l.extend(_infeasible(jobs, rest, index))
    return Decision(tuple(placements), (), tuple(infeasible_l), _state(jobs, index, prev, head_out))


def _infeasible(jobs: Sequence[JobView], start: int, index: NetworkIndex) -> tuple[Infeasible, ...]:
    out = []
    for jv in jobs[start:]:
        if jv.placement is None:
            jp = index.pools_for(jv.spec)
            if jp.reason is not None:
                out.append(jp.infeasible(jv.id))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class FifoPolicy:
    """Gavel's heterogeneity-agnostic FIFO (random model among those with room), event-driven.

    Composition: allocator = strict arrival order with `choose_agnostic`; filters and scores =
    `profile` (cpnet.sched.profile.DEFAULT_PROFILE).
    """

    name: str = "fifo"
    round_s: float | None = None
    only_places_waiting_jobs: bool = True
    profile: Profile = DEFAULT_PROFILE

    def decide(self, snapshot: Snapshot) -> Decision:
        return decide_fifo(snapshot, choose_agnostic, self.profile)


def fifo_base_allocate(inp: AllocInput) -> tuple[Alloc, Any]:
    """Gavel's FIFOPolicy(mode='base'): keep live jobs' models; queue the rest, random model each."""
    room = FreeCounts({(s.id, m): c for s in inp.snapshot.sites for m, c in s.inventory.items() if c > 0})
    alloc: dict[str, dict[str, float]] = {}
    queue: list[JobView] = []
    for jv in inp.jobs:
        kept = inp.previous.get(jv.id)
        jp = inp.pools[jv.id]
        model = next(iter(kept), None) if kept else None
        pool = None
        if model is not None and model in jp.by_model:
            pool = room.first_fit(jp.by_model[model], jv.spec.num_devices)
        if pool is None:
            queue.append(jv)
            continue
        room[pool] -= jv.spec.num_devices
        alloc[jv.id] = {pool[1]: 1.0}  # the kept model: pool is one of jp.by_model[model]
    for jv in queue:
        pool = choose_agnostic(jv, inp.pools[jv.id], room, inp.snapshot.seed)
        if pool is None:
            break
        room[pool] -= jv.spec.num_devices
        alloc[jv.id] = {pool[1]: 1.0}
    return alloc, None


@register("fifo", {"round_s": None, "reset_interval_s": 1920.0, "work_conserving": False})
def make_fifo(params: Mapping[str, Any]) -> FifoPolicy | RoundPolicy:
    """fifo = allocator `choose_agnostic` in arrival order (event-driven; with round_s: Gavel's
    FIFOPolicy(mode='base') in rounds, `fifo_base_allocate`) + DEFAULT_PROFILE's filters and scores."""
    if params.get("round_s") is None:
        return FifoPolicy(profile=DEFAULT_PROFILE)
    rp = round_params(params, fastest_first=False, skip_zero_priority=True)
    return RoundPolicy(rp, fifo_base_allocate, "fifo", profile=DEFAULT_PROFILE)
