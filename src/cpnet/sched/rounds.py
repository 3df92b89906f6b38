"""Gavel's round-based mechanism (OSDI'20 §5; `scheduler.py` of stanford-futuredata/gavel).

An allocation A[j][k] (time fraction of job j on accelerator model k, from a policy's allocator) is
realised in rounds of `round_s` seconds, as Gavel's simulator does it:

* Time accounting. Each job starts with `job_time[j][k] = round_s / 2` on every model; after a round
  it adds the wall time it ran on k, and so does `worker_time[k]`.
* Resets. The allocation is recomputed only when the job set changed *and* at least
  `reset_interval_s` (Gavel's `minimum_time_between_allocation_resets`, 1920 s) passed since the last
  reset. A reset first adds to each job's deficit on k the time it should have received
  (A[j][k] x elapsed) less the time it got, then sets job_time to round_s / 2 and worker_time[k] to
  the sum of those; jobs that arrive between resets have no allocation (priority 0) until the next.
* Priorities. priority[j][k] = A[j][k] / (job_time[j][k] / worker_time[k]), A x 1e9 while the
  fraction is 0, and 0 without allocation.
* Selection. Models are taken in order (heterogeneity-aware policies: fastest first; agnostic ones:
  a seeded shuffle per round); each model's jobs are sorted by (priority, deficit, allocation)
  descending, ties in arrival order, and the lists are walked greedily: a job is scheduled at most
  once per round, as a whole gang of `num_devices` devices of one pool, if a pool of that model has
  room (`round_room`: idle devices plus those the running jobs hold; devices held outside the
  snapshot's jobs are never handed out).
* Zero-priority jobs, as Gavel (`_schedule_jobs_on_workers_helper` and the assignment loop of
  `_schedule_jobs_on_workers`): FIFO policies pass over every zero-priority entry
  (`skip_zero_priority`); the others schedule a job whose allocation is 0 on the model like any
  other, but a job without any allocation (arrived since the last reset) is selected, counts its
  gang against the model's devices, and is then left unplaced, so those devices idle the round.
  `work_conserving=True` (an improvement, not Gavel) instead places every zero-priority job on the
  devices nobody with priority took.
* Placement. A job keeps its current pool when it is still free in this round (and, at a site with a
  power cap, its gang still fits under the cap beside the gangs placed before it: cpnet.sched.power);
  otherwise the first pool with room and power in the feasibility module's site order (`FreeCounts.first_fit`: amortised O(1)). The Decision is the delta to the current
  placements: moves and starts as placements, unscheduled running jobs as preemptions.

Everything carried between rounds lives in `RoundState` (returned as `Decision.policy_state`); it is
never mutated, only replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cpnet.core.snapshot import Decision, Infeasible, JobView, Placement, Snapshot
from cpnet.sched import framework
from cpnet.sched.feasibility import JobPools, NetworkIndex, Pool, index_for
from cpnet.sched.framework import Profile
from cpnet.sched.power import PowerRoom
from cpnet.sched.profile import DEFAULT_PROFILE
from cpnet.sched.seeded import pick

Alloc = Mapping[str, Mapping[str, float]]  # job id -> model -> time fraction
_Entry = tuple[float, float, float, int, str]  # (-priority, -deficit, -allocation, position, job), one list per model


@dataclass(frozen=True, slots=True)
class AllocInput:
    """What an allocator sees at a reset: the feasible jobs (arrival order) and the network."""

    snapshot: Snapshot
    jobs: Sequence[JobView]
    pools: Mapping[str, JobPools]
    capacity: Mapping[str, int]  # model -> devices over all sites
    index: NetworkIndex
    previous: Alloc  # the allocation being replaced
    private: Any  # the allocator's own state from its previous call (e.g. an LP basis)


Allocator = framework.Allocator  # re-exported: the round mechanism's extension point


@dataclass(frozen=True, slots=True)
class RoundParams:
    round_s: float = 360.0
    reset_interval_s: float = 1920.0
    fastest_first: bool = True  # False: seeded shuffle of the model order each round
    skip_zero_priority: bool = False  # Gavel's FIFO rule
    work_conserving: bool = False  # improvement: spare devices go to zero-priority jobs


@dataclass(frozen=True, slots=True)
class RoundState:
    index: NetworkIndex | None  # None only in a state restored from the store: rebuilt at the next round
    round_no: int = 0
    last_now_s: float | None = None
    last_reset_s: float | None = None
    need_update: bool = True
    alloc: Alloc = field(default_factory=dict)
    job_time: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    worker_time: Mapping[str, float] = field(default_factory=dict)
    deficit: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # job -> model -> s
    # job -> (model, expected run time in the round: round_s or until its steps are done)
    scheduled: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    private: Any = None


class FreeCounts(dict[Pool, int]):
    """Devices left per pool during one call, with first-fit cursors (placing only takes devices).

    Rule: `first_fit(pools, n)` is the first pool of `pools` with at least `n` devices left, exactly
    as a scan from the top would find it. Within one call the counts only go down, so a pool that
    had fewer than `n` left still has: a cursor per (pools, n) resumes the scan where the last one
    stopped, making first-fit amortised O(1) per placement instead of O(pools). Raising a count
    (a caller giving devices back mid-call) drops the cursors, so the answer stays exact.
    `pools` must stay alive while the counts are used (they are the index's memoised tuples).
    """

    __slots__ = ("_cursor",)

    def __init__(self, counts: Mapping[Pool, int]) -> None:
        super().__init__(counts)
        self._cursor: dict[tuple[int, int], int] = {}

    def __setitem__(self, pool: Pool, value: int) -> None:
        if self._cursor and value > self.get(pool, 0):
            self._cursor.clear()
        super().__setitem__(pool, value)

    def first_fit(self, pools: Sequence[Pool], n: int) -> Pool | None:
        key = (id(pools), n)
        cursor = self._cursor
        i = cursor.get(key, 0)
        get = self.get
        end = len(pools)
        while i < end:
            p = pools[i]
            if get(p, 0) >= n:
                cursor[key] = i
                return p
            i += 1
        cursor[key] = i
        return None


def _model_order(models: list[str], jobs: Sequence[JobView], pools: Mapping[str, JobPools], params: RoundParams, seed: int, round_no: int) -> list[str]:
    if params.fastest_first:
        score = dict.fromkeys(models, 0.0)
        for jv in jobs:  # sum over jobs of the profile's model score (throughput / the job's best)
            for m, r in pools[jv.spec.id].model_score.items():
                score[m] = score.get(m, 0.0) + r
        return sorted(models, key=lambda m: (-score.get(m, 0.0), m))
    order = sorted(models)
    for i in range(len(order) - 1, 0, -1):  # Fisher-Yates with keyed draws
        j = pick(seed, f"round:{round_no}:{i}", i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def round_room(snapshot: Snapshot, held: Mapping[Pool, int]) -> dict[Pool, int]:
    """Devices a round may hand out, per pool of an up site; `held` is what the snapshot's running
    jobs hold per pool.

    Rule: a round reassigns every device its jobs hold, so a pool's room is its idle devices
    (`snapshot.free`) plus those the snapshot's running jobs hold there, and never more than the
    pool has. Devices held outside the snapshot's jobs (a cancelled job whose process is still
    stopping, in the control plane) are in neither, so no round hands them out. In the simulator
    free = inventory - running, so the room is the whole inventory, as in Gavel.
    """
    free = snapshot.free
    room: dict[Pool, int] = {}
    for s in snapshot.sites:
        for m, c in s.inventory.items():
            if c > 0:
                pool = (s.id, m)
                room[pool] = min(c, max(0, free.get(pool, 0)) + held.get(pool, 0))
    return room


def decide_rounds(snapshot: Snapshot, allocate: Allocator, params: RoundParams, profile: Profile = DEFAULT_PROFILE) -> Decision:
    """One round of Gavel's mechanism; see the module docstring."""
    prev = snapshot.policy_state if isinstance(snapshot.policy_state, RoundState) else None
    index = index_for(snapshot, prev.index if prev else None, profile)
    # A changed network keeps the accounting (the allocation is revisited at the next reset).
    st = RoundState(index=index) if prev is None else replace(prev, index=index)
    now = snapshot.now_s
    half = params.round_s / 2.0
    capacity: dict[str, int] = {}
    for s in snapshot.sites:
        for m, c in s.inventory.items():
            if c > 0:
                capacity[m] = capacity.get(m, 0) + c
    models = sorted(capacity)

    infeasible: list[Infeasible] = []
    jobs: list[JobView] = []
    pools: dict[str, JobPools] = {}
    held: dict[Pool, int] = {}  # devices the running jobs hold, per pool
    for jv in snapshot.jobs:
        jp = index.pools_for(jv.spec)
        p = jv.placement
        if p is not None:
            at = (p.site, p.accelerator)
            held[at] = held.get(at, 0) + p.num_devices
        elif jp.reason is not None:
            infeasible.append(Infeasible(jv.spec.id, jp.reason, jp.resolvable))
            continue
        pools[jv.spec.id] = jp
        jobs.append(jv)
    by_id = {jv.spec.id: jv for jv in jobs}  # spec.id: JobView.id is a property call

    # 1. account for the round that just ended (as Gavel's simulator: a scheduled job ran the whole
    # round, or until its remaining steps were done)
    job_time = {j: v for j, v in st.job_time.items() if j in by_id}
    worker_time = dict(st.worker_time)
    elapsed = 0.0 if st.last_now_s is None else now - st.last_now_s
    for j, (m, expected) in st.scheduled.items():
        ran = min(elapsed, expected)
        worker_time[m] = worker_time.get(m, 0.0) + ran
        times = job_time.get(j)
        if times is not None:
            times = dict(times)
            times[m] = times.get(m, half) + ran
            job_time[j] = times
    deficit = {j: v for j, v in st.deficit.items() if j in by_id}
    need_update = st.need_update or len(job_time) != len(st.job_time)
    for jv in jobs:
        if jv.spec.id not in job_time:
            job_time[jv.spec.id] = dict.fromkeys(models, half)
            deficit[jv.spec.id] = {}
            need_update = True

    # 2. reset and reallocate when due
    alloc, private, last_reset = st.alloc, st.private, st.last_reset_s
    if need_update and (last_reset is None or now - last_reset >= params.reset_interval_s):
        since = now - (last_reset if last_reset is not None else 0.0)
        worker_time = dict.fromkeys(models, 0.0)
        new_deficit: dict[str, Mapping[str, float]] = {}
        for j, times in job_time.items():
            a_row = alloc.get(j, {})
            d = dict(deficit.get(j, {}))
            for m in models:
                d[m] = d.get(m, 0.0) + a_row.get(m, 0.0) * since - (times.get(m, half) - half)
                worker_time[m] += half
            new_deficit[j] = d
            job_time[j] = dict.fromkeys(models, half)
        deficit = new_deficit
        alloc, private = allocate(AllocInput(snapshot, jobs, pools, capacity, index, alloc, private))
        last_reset = now
        need_update = False

    # 3. priorities and greedy selection
    order = _model_order(models, jobs, pools, params, snapshot.seed, st.round_no)
    # One list of entries per model, built in one pass over the jobs (arrival order, so each list
    # is what a per-model pass would build); entries sort ascending on (-priority, -deficit,
    # -allocation, arrival position), and the position is unique, so the job id is never compared.
    per_model: dict[str, list[_Entry]] = {m: [] for m in order}
    wt_of = {m: worker_time.get(m, 0.0) for m in order}
    for pos, jv in enumerate(jobs):
        j = jv.spec.id
        row = alloc.get(j)
        times = job_time[j]
        d_row = deficit.get(j)
        for m in pools[j].by_model:
            entries = per_model.get(m)
            if entries is None:
                continue  # a model without devices at an up site
            a = row.get(m, 0.0) if row else 0.0
            if a <= 0.0:
                prio = 0.0
            else:
                wt = wt_of[m]
                frac = times.get(m, half) / wt if wt > 0 else 0.0
                prio = a / frac if frac > 0 else a * 1e9
            entries.append((-prio, -(d_row.get(m, 0.0) if d_row else 0.0), -a, pos, j))
    for entries in per_model.values():
        entries.sort()

    room = FreeCounts(round_room(snapshot, held))
    power = PowerRoom.for_round(snapshot)  # a round reassigns every device, so every capped site starts idle
    capped = power.capped
    left: dict[str, int] = {}
    for (_, m), c in room.items():
        left[m] = left.get(m, 0) + c
    chosen: dict[str, Pool] = {}
    idle: set[str] = set()  # Gavel: selected without an allocation, so not placed this round
    members: dict[int, frozenset[Pool]] = {}  # id(candidate tuple) -> its pools as a set
    gavel_idle = not params.work_conserving and not params.skip_zero_priority
    skip_zero = params.skip_zero_priority and not params.work_conserving
    for m in order:
        # Only this model's entries change left[m], and they sort zero priorities last: once the
        # model is full (or, under Gavel's FIFO rule, the priorities reach 0) no later entry of
        # it can be placed, so its walk stops there (the entries a flat walk would skip).
        for neg_prio, _d, _a, _pos, j in per_model[m]:
            if left.get(m, 0) <= 0:
                break
            if j in chosen or j in idle:
                continue
            if neg_prio >= 0.0 and skip_zero:
                break  # Gavel's FIFO rule
            jv = by_id[j]
            n = jv.spec.num_devices
            if n > left[m]:
                continue
            if gavel_idle and j not in alloc:
                # Gavel counts the gang against the model's workers, then assigns none to a job that
                # is not in the allocation: the devices stay idle for this round.
                left[m] -= n
                idle.add(j)
                continue
            cands = pools[j].by_model[m]
            pool = None
            if jv.placement is not None:
                current = jv.placement.pool
                if room.get(current, 0) >= n:
                    # membership by a set per candidate tuple (built once per call), not a tuple scan
                    member = members.get(id(cands))
                    if member is None:
                        member = members[id(cands)] = frozenset(cands)
                    if current in member:
                        pool = current
            if pool is None:
                pool = room.first_fit(cands, n)
            if pool is not None and capped and not power.fits(pool[0], m, n):
                pool = next((c for c in cands if room.get(c, 0) >= n and power.fits(c[0], m, n)), None)
            if pool is None:
                continue
            if capped:  # no Placement built per chosen job on uncapped networks
                power.take(Placement(j, pool[0], m, n))
            room[pool] -= n
            left[m] -= n
            chosen[j] = pool

    # 4. the delta to apply, and what to remember
    placements: list[Placement] = []
    preemptions: list[str] = []
    scheduled: dict[str, tuple[str, float]] = {}
    for jv in jobs:
        j = jv.spec.id
        pool = chosen.get(j)
        if pool is None:
            if jv.placement is not None:
                preemptions.append(j)
            continue
        if jv.placement is None or jv.placement.pool != pool:
            placements.append(Placement(j, pool[0], pool[1], jv.spec.num_devices))
        rate = pools[j].rate[pool[1]]
        remaining = max(0.0, jv.spec.total_steps - jv.steps_at(now))
        expected = min(params.round_s, remaining / rate) if rate > 0 else params.round_s
        scheduled[j] = (pool[1], expected)

    state = RoundState(
        index=index,
        round_no=st.round_no + 1,
        last_now_s=now,
        last_reset_s=last_reset,
        need_update=need_update,
        alloc=alloc,
        job_time=job_time,
        worker_time=worker_time,
        deficit=deficit,
        scheduled=scheduled,
        private=private,
    )
    return Decision(tuple(placements), tuple(preemptions), tuple(infeasible), state)


def round_params(params: Mapping[str, Any], *, fastest_first: bool, skip_zero_priority: bool = False) -> RoundParams:
    """RoundParams from a policy's user params (round_s, default 360; reset_interval_s, default
    1920; work_conserving, default False: Gavel's rule)."""
    return RoundParams(
        round_s=float(params.get("round_s", 360.0)),
        reset_interval_s=float(params.get("reset_interval_s", 1920.0)),
        fastest_first=fastest_first,
        skip_zero_priority=skip_zero_priority,
        work_conserving=bool_param(params.get("work_conserving", False), "work_conserving"),
    )


def bool_param(value: Any, name: str) -> bool:
    """A boolean policy param; strings from --policy-param (true/false/1/0/yes/no/on/off) accepted."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"policy param '{name}' must be a boolean, got {value!r}")


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class RoundPolicy:
    """A policy realised by the round mechanism: an allocator (the rule) plus its RoundParams, with
    the filters and scores of `profile`."""

    params: RoundParams
    allocate: Allocator
    name: str
    only_places_waiting_jobs: bool = False  # rounds preempt and move running jobs
    profile: Profile = DEFAULT_PROFILE

    @property
    def round_s(self) -> float:
        return self.params.round_s

    def decide(self, snapshot: Snapshot) -> Decision:
        return decide_rounds(snapshot, self.allocate, self.params, self.profile)

    def rescan(self, state: Any) -> Any:
        return state  # every round reads every job; the index's memo is keyed by each job's whole shape

    def durable_state(self, state: Any) -> Any:
        """The round accounting without the index (a cache of the network, rebuilt from the next snapshot)."""
        return replace(state, index=None) if isinstance(state, RoundState) else None

    def restore_state(self, value: Any) -> Any:
        return value if isinstance(value, RoundState) else None
