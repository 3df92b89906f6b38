"""The simulated driver: a virtual clock and a simulated executor around the pure `schedule()`.

Semantics (the contract agreed with `cpnet.sched`):
- A Decision is a delta. `placements` start waiting jobs or move running ones, `preemptions` return
  running jobs to the queue with their progress kept, `infeasible` jobs are recorded as failed and
  removed. Running jobs not named keep running. `policy_state` is handed back in the next Snapshot.
- Event-driven policies (`round_s is None`) are called after every batch of same-time events
  (arrivals and completions at one timestamp form one batch).
- Round-based policies are called at t = 0, R, 2R, ... only. Arrivals wait in the queue; devices
  freed mid-round stay idle until the next round; with nothing active the clock jumps to the first
  round at or after the next arrival.
- A job placed on N devices of model M progresses at `throughput.steps_per_s(job_type, M, N)` steps/s
  and finishes when its steps reach `total_steps`. After a preemption or move, an optional
  `restart_overhead_s` passes (devices held, no progress) before it progresses again.
- Energy: when the scenario gives price or carbon series (`scenario.energy`, cpnet.core.energy), the
  snapshot's sites carry the values in force at `now_s`, and `Snapshot.energy` the series themselves.
  Event-driven policies see them at their events; round-based ones every round.
- Data gravity: a job whose data (`data_gb` at `data_site`) is not yet at the site it starts on
  makes no progress for the transfer time (cpnet.core.paths: size / bottleneck bandwidth + RTT),
  holding its devices; the data is then at that site for later restarts. Data moved is recorded
  (GB and GB x great-circle km).
- Power: no start may take a site over its `power_cap_kw` (cpnet.core.power); checked at every start
  like device over-allocation.
- The run stops when the trace is exhausted and no job is active, when every job of the `measure`
  window has ended, or when nothing can change any more (nothing running, nothing arriving, and the
  policy placed nothing; round-based: for IDLE_LIMIT_S of rounds), in which case the waiting jobs
  are recorded as unfinished.

Decisions are validated in O(size of decision); a violation is a policy bug and raises
SimulationError naming the job and the values.

Cost: completions sit in one heap of `(finish_s, seq, job, version)` with the ordering rules of
`engine.EventLoop` (seq from itertools.count, so ties pop in scheduling order), inlined here because
this loop runs twice per job; a preempted or moved job bumps its version and its old completion is
dropped when it reaches the top. Arrivals are not in the heap: the trace is read one job ahead.
JobViews are rebuilt only when a job starts, stops or moves, and the snapshot's job tuple is one
copy of a list kept in arrival order.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from cpnet.core.energy import EnergySignals
from cpnet.core.model import Accelerator, JobSpec, Link, Site, Tenant
from cpnet.core.paths import Paths
from cpnet.core.power import busy_increment_kw, idle_draw_kw
from cpnet.core.snapshot import Decision, JobView, Placement, Snapshot, ThroughputTable, UsageEntry
from cpnet.scenario.distance import great_circle_km
from cpnet.sched.framework import Policy
from cpnet.sched.runner import SchedulerConfig, schedule
from cpnet.sim.engine import SimulationError
from cpnet.sim.hooks import EventHook, ProgressHook, SimEvent, SimState
from cpnet.sim.records import (
    JobOutcome,
    JobRecord,
    PlacementChange,
    RunInterval,
    SimulationResult,
    UtilizationSeries,
)

IDLE_LIMIT_S = 86_400.0  # round-based runs end after this long with nothing running or changing


class Network(Protocol):
    """What the driver needs of a scenario (cpnet.scenario.Scenario satisfies it)."""

    @property
    def sites(self) -> Iterable[Site]: ...

    @property
    def links(self) -> Iterable[Link]: ...

    @property
    def tenants(self) -> Any: ...  # Mapping[str, Tenant] or an iterable of Tenant


_NO_TIME: Mapping[tuple[str, str], float] = MappingProxyType({})  # shared, immutable


class _Job:
    """Mutable per-job bookkeeping inside the driver; the scheduler only ever sees `view`."""

    __slots__ = (
        "spec", "index", "view", "placement", "run_start_s", "progress_from_s", "rate", "steps_done",
        "attained_device_s", "time_on", "restarts", "version", "first_start_s", "history",
        "device_s", "events", "intervals", "data_at", "data_moved_gb", "data_moved_gb_km", "transfer_s",
        "preemptions", "work_lost_device_s",
    )  # fmt: skip

    def __init__(self, spec: JobSpec, index: int, now_s: float) -> None:
        self.spec = spec
        self.index = index
        self.placement: Placement | None = None
        self.run_start_s = 0.0
        self.progress_from_s = 0.0
        self.rate = 0.0
        self.steps_done = 0.0
        self.attained_device_s = 0.0
        self.time_on: Mapping[tuple[str, str], float] = _NO_TIME
        self.restarts = 0
        self.version = 0
        self.first_start_s: float | None = None
        self.history: tuple[PlacementChange, ...] = ()  # a tuple: the record takes it as is
        self.device_s: dict[tuple[str, str], float] = {}
        self.events = 1
        self.intervals: tuple[RunInterval, ...] = ()
        self.data_at: tuple[str, ...] = ()  # sites the job's data was copied to
        self.data_moved_gb = 0.0
        self.data_moved_gb_km = 0.0
        self.transfer_s = 0.0
        self.preemptions = 0
        self.work_lost_device_s = 0.0
        self.view = JobView(spec, None, now_s, 0.0, 0.0, 0.0, _NO_TIME, 0)


def run_simulation(
    *,
    scenario: Network,
    jobs: Iterable[JobSpec],
    policy: str | SchedulerConfig | Policy,
    throughput: ThroughputTable,
    catalog: Mapping[str, Accelerator],
    seed: int = 0,
    round_s: float | None = None,
    measure: tuple[int, int] | None = None,
    on_event: EventHook | None = None,
    progress: ProgressHook | None = None,
    restart_overhead_s: float = 0.0,
    preemption_loses_work: bool = False,
    until_s: float | None = None,
) -> SimulationResult:
    """Replay `jobs` (streamed, nondecreasing `arrival_s`) through `policy` on `scenario`'s sites.

    `round_s` overrides the policy's own round length (None keeps it). `measure=(lo, hi)` marks the
    jobs with arrival index in [lo, hi) as measured and stops once all of them have ended.
    `preemption_loses_work` (default False: Gavel's simulator, where a stopped job keeps all its
    progress): a preempted job keeps only the progress up to its last checkpoint (one every
    `JobSpec.checkpoint_interval_s` since the attempt started; none: it restarts from its previous
    checkpointed state), and the device-seconds thrown away are recorded. `until_s`: the run stops
    at that time (event-driven policies; jobs still active are recorded unfinished, running ones as
    holding their devices until then).
    """
    built = _build_policy(policy)
    sim = _Simulation(
        scenario=scenario,
        policy=built,
        throughput=throughput,
        catalog=catalog,
        seed=seed,
        round_s=built.round_s if round_s is None else round_s,
        measure=measure,
        on_event=on_event,
        progress=progress,
        restart_overhead_s=restart_overhead_s,
        preemption_loses_work=preemption_loses_work,
        until_s=until_s,
    )
    # The cyclic collector is paused for the replay: its full passes rescan every live object (the
    # caller's trace and all records so far) and were ~20 % of a Philly replay's CPU time, finding
    # nothing, since the driver makes no reference cycles per event. Reference counting still frees
    # everything; the collector's previous setting is restored on the way out.
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        return sim.run(iter(jobs))
    finally:
        if collecting:
            gc.enable()


def _build_policy(policy: str | SchedulerConfig | Policy) -> Policy:
    if isinstance(policy, str):
        return SchedulerConfig(policy).build()
    if isinstance(policy, SchedulerConfig):
        return policy.build()
    return policy


def tenants_of(scenario: Network) -> dict[str, Tenant]:
    """The scenario's tenants by id (`tenants` may be a mapping or an iterable of Tenant)."""
    tenants = getattr(scenario, "tenants", None) or {}
    if isinstance(tenants, Mapping):
        return dict(tenants)
    return {t.id: t for t in tenants}


class _Simulation:
    def __init__(
        self,
        *,
        scenario: Network,
        policy: Policy,
        throughput: ThroughputTable,
        catalog: Mapping[str, Accelerator],
        seed: int,
        round_s: float | None,
        measure: tuple[int, int] | None,
        on_event: EventHook | None,
        progress: ProgressHook | None,
        restart_overhead_s: float,
        preemption_loses_work: bool = False,
        until_s: float | None = None,
    ) -> None:
        if round_s is not None and not round_s > 0:
            raise SimulationError(f"round_s must be > 0 s, got {round_s!r}")
        if restart_overhead_s < 0:
            raise SimulationError(f"restart_overhead_s must be >= 0 s, got {restart_overhead_s!r}")
        self.policy = policy
        self.throughput = throughput
        self.catalog = catalog
        self.seed = seed
        self.round_s = round_s
        self.measure = measure
        self.on_event = on_event
        self.state = SimState(self) if on_event is not None else None
        self.progress = progress
        self.restart_overhead_s = float(restart_overhead_s)
        self.preemption_loses_work = preemption_loses_work
        if until_s is not None and round_s is not None:
            raise SimulationError("until_s stops event-driven replays only; a round-based policy runs until its jobs end")
        self.until_s = math.inf if until_s is None else float(until_s)
        # Ended stretches, for policies with fair share over history (Snapshot.usage_log); kept only for them.
        self.usage_log: list[UsageEntry] | None = [] if getattr(policy, "reads_usage_log", False) else None
        self.sites = tuple(scenario.sites)
        # Every connected pair (declared and distance-derived) where the scenario can say so.
        network_links = getattr(scenario, "network_links", None)
        self.links = tuple(network_links() if callable(network_links) else getattr(scenario, "links", ()) or ())
        self.tenants = tenants_of(scenario)
        tree = getattr(scenario, "tenant_tree", None)
        self.tenant_tree = tree if tree is not None and tree.quota_dimensions() else None  # quotas only matter where declared
        energy = getattr(scenario, "energy", None)
        self.energy: EnergySignals | None = energy if isinstance(energy, EnergySignals) else None
        self.sites_now = self.sites  # the sites with the energy values in force until `sites_until_s`
        self.sites_until_s = -math.inf if self.energy is not None else math.inf
        self.sites_from_s = -math.inf
        self.site_by_id = {s.id: s for s in self.sites}
        self.paths: Paths | None = None  # built at the first data transfer
        # Power: the draw of each capped site (idle draw plus busy increments), checked at every start.
        self.site_kw = {s.id: idle_draw_kw(s, catalog) for s in self.sites if s.power_cap_kw is not None}
        self.capacity = {(s.id, m): int(n) for s in self.sites for m, n in s.inventory.items() if n > 0}
        self.free = dict(self.capacity)
        models = sorted({m for _, m in self.capacity})
        self.busy = {m: 0 for m in models}
        self.model_capacity = {m: sum(n for (_, mm), n in self.capacity.items() if mm == m) for m in models}
        self.tl_times: dict[str, list[float]] = {m: [] for m in models}
        self.tl_busy: dict[str, list[int]] = {m: [] for m in models}
        self.jobs: dict[str, _Job] = {}  # active (waiting or running) jobs, in arrival order
        self.waiting = 0  # active jobs without a placement
        # A policy that only ever places waiting jobs need not be asked when none waits.
        self.skip_when_none_waits = bool(getattr(policy, "only_places_waiting_jobs", False))
        # The active jobs' views in arrival order, beside their arrival indices (sorted), so a
        # view is found by bisection and the snapshot's job tuple is one copy of a list.
        self.view_list: list[JobView] = []
        self.view_index: list[int] = []
        self.rates: dict[tuple[str, str, int], float | None] = {}  # the table is pure: memoise it
        self.records: list[JobRecord] = []
        self.heap: list[tuple[float, int, _Job, int]] = []  # (finish_s, seq, job, version)
        self.seq = itertools.count()
        self.now_s = 0.0
        self.start_s: float | None = None
        self.events = 0
        self.decisions = 0
        self.ended = 0
        self.next_progress = 0
        self.policy_state: Any = None
        self.jobs_tuple: tuple[JobView, ...] | None = ()
        self.measured_left = 0 if measure is None else max(0, measure[1] - measure[0])
        self.last_arrival_s = -math.inf

    # ---- main loops -------------------------------------------------------------------------
    def run(self, trace: Iterator[JobSpec]) -> SimulationResult:
        self.trace = trace
        self.next_index = 0
        self.pending: JobSpec | None = self._pull()
        if self.pending is not None:
            self.now_s = self.pending.arrival_s
            self.start_s = self.now_s
        if self.round_s is None:
            self._run_event_driven()
        else:
            self._run_rounds(self.round_s)
        return self._result()

    def _run_event_driven(self) -> None:
        # The hot loop of every event-driven replay: kept flat on purpose (see bench/sim_speed.py).
        heap, jobs, inf, pop = self.heap, self.jobs, math.inf, heapq.heappop
        measured = self.measure is not None
        while True:
            if measured and self._done():
                break
            while heap and heap[0][2].version != heap[0][3]:
                pop(heap)  # stale: the job was preempted or moved after this was scheduled
            pending = self.pending
            if pending is None and not jobs:
                break
            t_fin = heap[0][0] if heap else inf
            t_arr = pending.arrival_s if pending is not None else inf
            t = t_fin if t_fin < t_arr else t_arr
            if t == inf:
                break  # waiting jobs that nothing will ever start: recorded as unfinished
            if t > self.until_s:
                self.now_s = self.until_s
                break
            self.now_s = t
            changed = self._finish_due(t) if t_fin == t else False
            if t_arr == t:
                self._arrive_due(t)
                changed = True
            if changed and jobs and (self.waiting or not self.skip_when_none_waits):
                self._decide()

    def _run_rounds(self, round_s: float) -> None:
        heap = self.heap
        idle_since: float | None = None  # first round of a run of rounds where nothing ran or changed
        next_round = 0.0 if self.pending is None else math.ceil(self.pending.arrival_s / round_s) * round_s
        while not self._done():
            if not self.jobs:
                if self.pending is None:
                    break
                next_round = max(next_round, math.ceil(self.pending.arrival_s / round_s) * round_s)
            # apply every arrival and completion up to and including the round boundary
            while True:
                self._drop_stale()
                t_fin = heap[0][0] if heap else math.inf
                t_arr = self.pending.arrival_s if self.pending is not None else math.inf
                t = min(t_fin, t_arr)
                if t > next_round:
                    break
                self.now_s = t
                if t_fin == t:
                    self._finish_due(t)
                if t_arr == t:
                    self._arrive_due(t)
            if self._done():
                break
            self.now_s = next_round
            if self.jobs:
                changed = self._decide()
                if changed or heap or self.pending is not None or self._any_running():
                    idle_since = None
                elif idle_since is None:
                    idle_since = next_round
                elif next_round - idle_since >= IDLE_LIMIT_S:
                    # A round policy's state moves with time (Gavel resets its allocation at most
                    # every 1920 s), so one empty round proves nothing; a day of them does.
                    break
            next_round += round_s

    def _done(self) -> bool:
        if self.measure is not None and self.next_index >= self.measure[1] and self.measured_left == 0:
            return True
        return self.pending is None and not self.jobs

    def _any_running(self) -> bool:
        return any(j.placement is not None for j in self.jobs.values())

    # ---- events -----------------------------------------------------------------------------
    def _pull(self) -> JobSpec | None:
        spec = next(self.trace, None)
        if spec is not None:
            if spec.arrival_s < self.last_arrival_s:
                raise SimulationError(
                    f"job {spec.id} arrives at {spec.arrival_s!r} s, before the previous job "
                    f"({self.last_arrival_s!r} s); traces must be in nondecreasing arrival order"
                )
            self.last_arrival_s = spec.arrival_s
        return spec

    def _arrive_due(self, t: float) -> None:
        jobs, view_list, view_index = self.jobs, self.view_list, self.view_index
        spec = self.pending
        while spec is not None and spec.arrival_s == t:
            if spec.id in jobs:
                raise SimulationError(f"job id {spec.id!r} arrives twice")
            index = self.next_index
            job = _Job(spec, index, t)
            self.next_index = index + 1
            jobs[spec.id] = job
            view_list.append(job.view)
            view_index.append(index)
            self.waiting += 1
            self.events += 1
            if self.on_event is not None:
                self.on_event(SimEvent("arrival", t, spec.id), self.state)  # type: ignore[arg-type]
            spec = self.pending = self._pull()
        self.jobs_tuple = None

    def _drop_stale(self) -> None:
        heap = self.heap
        while heap and heap[0][2].version != heap[0][3]:
            heapq.heappop(heap)

    def _finish_due(self, t: float) -> bool:
        heap = self.heap
        finished = False
        pop = heapq.heappop
        while heap and heap[0][0] == t:
            _, _, job, version = pop(heap)
            if job.version != version:
                continue
            self._stop(job, t, finished=True)
            self._end(job, JobOutcome.FINISHED, t)
            finished = True
        return finished

    # ---- decisions --------------------------------------------------------------------------
    def _snapshot(self) -> Snapshot:
        if self.jobs_tuple is None:
            self.jobs_tuple = tuple(self.view_list)
        sites = self.sites if self.energy is None else self._sites_at(self.now_s)
        return Snapshot(
            self.now_s, sites, self.jobs_tuple, dict(self.free), self.throughput, self.catalog,
            self.links, self.tenants, self.seed, self.policy_state, (), self.energy,
            self.usage_log if self.usage_log is not None else (), {}, self.tenant_tree,
        )  # fmt: skip

    def _sites_at(self, now: float) -> tuple[Site, ...]:
        """The sites with the price and carbon in force at `now` (one tuple per change, so that the
        scheduler's network index is rebuilt only when a value changed)."""
        energy = self.energy
        assert energy is not None
        if not (self.sites_until_s <= now or now < self.sites_from_s):
            return self.sites_now
        sites = tuple(energy.site_at(s, now) for s in self.sites)
        if sites != self.sites_now:
            self.sites_now = sites
        self.sites_from_s = now
        self.sites_until_s = energy.next_change_s(now)
        return self.sites_now

    def _decide(self) -> bool:
        decision = schedule(self._snapshot(), self.policy)
        self.decisions += 1
        self.policy_state = decision.policy_state
        if not (decision.placements or decision.preemptions or decision.infeasible):
            return False
        self._apply(decision)
        return True

    def _apply(self, d: Decision) -> None:
        now = self.now_s
        if len(d.placements) == 1 and not d.preemptions and not d.infeasible:  # the common case
            p = d.placements[0]
            job = self.jobs.get(p.job_id)
            if job is not None and job.placement is None:
                self._check_gang(job.spec, p)
                self._start(job, p, now)
                if self.on_event is not None:
                    self._emit("start", job, p)
                return
        named: set[str] = set()
        for item in d.infeasible:
            job = self._named(item.job_id, named, "infeasible")
            if job.placement is not None:
                raise SimulationError(f"job {item.job_id} is running but was declared infeasible")
            self._end(job, JobOutcome.INFEASIBLE, now, reason=item.reason)
        for job_id in d.preemptions:
            job = self._named(job_id, named, "preemptions")
            if job.placement is None:
                raise SimulationError(f"job {job_id} is preempted but is not running")
            job.preemptions += 1
            self._stop(job, now, preempted=True)
            self._emit("preempt", job, None)
        starts: list[tuple[_Job, Placement, str]] = []
        for p in d.placements:
            job = self._named(p.job_id, named, "placements")
            self._check_gang(job.spec, p)
            if job.placement is None:
                starts.append((job, p, "start"))
            elif job.placement != p:
                # release first so a decision may swap jobs between pools; the view is rebuilt by
                # the _start below (no snapshot, and no hook, reads views in between)
                self._stop(job, now, restarting=True)
                starts.append((job, p, "move"))
        emit = self.on_event is not None
        for job, p, kind in starts:
            self._start(job, p, now)
            if emit:
                self._emit(kind, job, p)

    def _named(self, job_id: str, named: set[str], where: str) -> _Job:
        if job_id in named:
            raise SimulationError(f"decision names job {job_id!r} twice (second time in {where})")
        job = self.jobs.get(job_id)
        if job is None:
            raise SimulationError(f"decision names job {job_id!r} in {where}, but it is not waiting or running")
        named.add(job_id)
        return job

    def _check_gang(self, spec: JobSpec, p: Placement) -> None:
        if p.num_devices != spec.num_devices:
            raise SimulationError(f"placement of job {spec.id} has {p.num_devices} devices; the job needs exactly {spec.num_devices}")
        if (p.site, p.accelerator) not in self.capacity:
            raise SimulationError(f"placement of job {spec.id} names pool ({p.site}, {p.accelerator}), which has no devices")
        if spec.accelerators is not None and p.accelerator not in spec.accelerators:
            raise SimulationError(f"job {spec.id} may not run on {p.accelerator}; allowed: {sorted(spec.accelerators)}")
        if spec.sites is not None and p.site not in spec.sites:
            raise SimulationError(f"job {spec.id} may not run at site {p.site}; allowed: {sorted(spec.sites)}")

    # ---- state changes ----------------------------------------------------------------------
    def _start(self, job: _Job, p: Placement, now: float) -> None:
        # Runs once per placement in every replay: attributes are read once into locals.
        spec = job.spec
        site, model, n = p.site, p.accelerator, p.num_devices
        pool = (site, model)
        free = self.free[pool]
        if free < n:
            raise SimulationError(f"placement of job {spec.id} on {pool} needs {n} devices but only {free} are free at t={now!r} s")
        key = (spec.job_type, model, n)
        rate = self.rates.get(key, -1.0)
        if rate == -1.0:
            rate = self.rates[key] = self.throughput.steps_per_s(*key)
        if rate is None or not rate > 0:
            raise SimulationError(f"job {spec.id} ({spec.job_type!r}) placed on {n} x {model}, where its throughput is {rate!r}")
        site_kw = self.site_kw
        if site in site_kw:
            self._draw(job, p, now)
        self.free[pool] = free - n
        self.waiting -= 1
        self._set_busy(model, n, now)
        if job.first_start_s is None:
            job.first_start_s = now
            progress_from_s = now
        else:
            job.restarts += 1
            progress_from_s = now + self.restart_overhead_s
        if spec.data_gb > 0 and spec.data_site is not None and spec.data_site != site and site not in job.data_at:
            progress_from_s += self._transfer(job, site)
        job.placement = p
        job.rate = rate
        job.run_start_s = now
        job.progress_from_s = progress_from_s
        version = job.version = job.version + 1
        job.history += (PlacementChange(now, site, model, n),)
        steps_done = job.steps_done
        remaining = max(0.0, spec.total_steps - steps_done)
        heapq.heappush(self.heap, (progress_from_s + remaining / rate, next(self.seq), job, version))
        job.view = self.view_list[bisect_left(self.view_index, job.index)] = JobView(
            spec, p, now, job.attained_device_s, steps_done, rate, job.time_on, job.restarts
        )
        job.events += 1
        self.jobs_tuple = None
        self.events += 1

    def _stop(self, job: _Job, now: float, *, finished: bool = False, restarting: bool = False, preempted: bool = False) -> None:
        """Release the job's devices; `restarting`: a move, whose _start follows in the same
        decision and makes the new view (so no waiting view is built here); `preempted`: a stop by
        the policy (work since the last checkpoint is lost under preemption_loses_work)."""
        p = job.placement
        assert p is not None
        site, model, n = p.site, p.accelerator, p.num_devices
        pool = (site, model)
        held = now - job.run_start_s
        job.attained_device_s += held * n
        job.device_s[pool] = job.device_s.get(pool, 0.0) + held * n
        job.intervals += (RunInterval(job.run_start_s, now, site, model, n),)
        if self.usage_log is not None:
            self.usage_log.append(UsageEntry(job.spec.tenant, job.spec.job_type, model, held * n, now))
        if site in self.site_kw:
            self.site_kw[site] -= busy_increment_kw(self.site_by_id[site], model, n, self.catalog)
        job.placement = None
        job.version += 1
        self.free[pool] += n
        # _set_busy inlined: this runs once per job in every replay
        busy = self.busy[model] = self.busy[model] - n
        times = self.tl_times[model]
        if times and times[-1] == now:
            self.tl_busy[model][-1] = busy
        else:
            times.append(now)
            self.tl_busy[model].append(busy)
        if finished:
            job.steps_done = job.spec.total_steps
            return  # the job leaves: no new view, so its time_on needs no update
        self.waiting += 1
        kept_until = now
        if preempted and self.preemption_loses_work:
            interval = job.spec.checkpoint_interval_s
            kept_until = job.run_start_s + (math.floor(held / interval) * interval if interval else 0.0)
            job.work_lost_device_s += (now - kept_until) * n
        if kept_until > job.progress_from_s:
            job.steps_done = min(job.spec.total_steps, job.steps_done + (kept_until - job.progress_from_s) * job.rate)
        job.rate = 0.0
        time_on = dict(job.time_on)  # copy-on-write: earlier views keep their own mapping
        time_on[pool] = time_on.get(pool, 0.0) + held
        job.time_on = time_on
        if not restarting:
            job.view = self.view_list[bisect_left(self.view_index, job.index)] = JobView(
                job.spec, None, now, job.attained_device_s, job.steps_done, 0.0, time_on, job.restarts
            )
        job.events += 1
        self.jobs_tuple = None
        self.events += 1

    def _draw(self, job: _Job, p: Placement, now: float) -> None:
        """Book the gang's power at its (capped) site; a start over the cap is a policy bug."""
        site = self.site_by_id[p.site]
        kw = self.site_kw[p.site] + busy_increment_kw(site, p.accelerator, p.num_devices, self.catalog)
        cap = site.power_cap_kw
        assert cap is not None
        if kw > cap + 1e-6:
            raise SimulationError(
                f"placement of job {job.spec.id} on {p.num_devices} x {p.accelerator} at {p.site} takes the site to "
                f"{kw:.3f} kW, over its {cap:.3f} kW power cap at t={now!r} s"
            )
        self.site_kw[p.site] = kw

    def _transfer(self, job: _Job, site: str) -> float:
        """Copy the job's data to `site`: returns the transfer time and records the data moved."""
        spec = job.spec
        src = spec.data_site
        assert src is not None
        if self.paths is None:
            self.paths = Paths.build((s.id for s in self.sites), self.links)
        t = self.paths.transfer_s(spec.data_gb, src, site)
        if math.isinf(t):
            raise SimulationError(f"job {spec.id} placed at {site}, which its data site {src} cannot reach")
        job.data_at += (site,)
        job.transfer_s += t
        job.data_moved_gb += spec.data_gb
        a, b = self.site_by_id.get(src), self.site_by_id[site]
        if a is not None:
            job.data_moved_gb_km += spec.data_gb * great_circle_km(a.lat, a.lon, b.lat, b.lon)
        return t

    def _set_busy(self, model: str, delta: int, now: float) -> None:
        busy = self.busy[model] + delta
        self.busy[model] = busy
        times = self.tl_times[model]
        if times and times[-1] == now:
            self.tl_busy[model][-1] = busy
        else:
            times.append(now)
            self.tl_busy[model].append(busy)

    def _end(self, job: _Job, outcome: JobOutcome, now: float, reason: str = "") -> None:
        if job.placement is None and outcome is not JobOutcome.FINISHED:
            self.waiting -= 1
        del self.jobs[job.spec.id]
        pos = bisect_left(self.view_index, job.index)
        del self.view_list[pos]
        del self.view_index[pos]
        self.jobs_tuple = None
        job.events += 1
        self.events += 1
        self.records.append(self._record(job, outcome, now if outcome is JobOutcome.FINISHED else None, reason))
        if self.measure is not None and self.measure[0] <= job.index < self.measure[1]:
            self.measured_left -= 1
        self.ended += 1
        if self.on_event is not None:
            self._emit("finish" if outcome is JobOutcome.FINISHED else "infeasible", job, None)
        if self.progress is not None and self.ended >= self.next_progress:
            self.progress(now, self.ended)
            self.next_progress = self.ended + 100

    def _emit(self, kind: str, job: _Job, p: Placement | None) -> None:
        if self.on_event is not None:
            self.on_event(SimEvent(kind, self.now_s, job.spec.id, p), self.state)  # type: ignore[arg-type]

    def _record(self, job: _Job, outcome: JobOutcome, finish_s: float | None, reason: str) -> JobRecord:
        s = job.spec
        return JobRecord(
            job.index, s.id, s.tenant, s.job_type, s.num_devices, s.arrival_s, outcome, job.first_start_s,
            finish_s, reason, job.history, job.device_s, job.restarts, job.events, job.intervals, s.data_site,
            job.data_moved_gb, job.data_moved_gb_km, job.transfer_s, s.deadline_s, job.preemptions, job.work_lost_device_s,
        )  # fmt: skip

    def _result(self) -> SimulationResult:
        end_s = self.now_s
        for job in list(self.jobs.values()):  # what is still active when the run stops
            if job.placement is not None:
                self._stop(job, end_s)
            self.records.append(self._record(job, JobOutcome.UNFINISHED, None, "still active when the simulation stopped"))
        self.records.sort(key=lambda r: r.arrival_index)
        if self.progress is not None:
            self.progress(end_s, self.ended)
        series = {m: UtilizationSeries(m, self.model_capacity[m], tuple(self.tl_times[m]), tuple(self.tl_busy[m])) for m in self.busy}
        tdp = {m: (self.catalog[m].tdp_w if m in self.catalog else None) for m in self.busy}
        return SimulationResult(
            policy=getattr(self.policy, "name", type(self.policy).__name__),
            seed=self.seed,
            round_s=self.round_s,
            records=tuple(self.records),
            start_s=self.start_s if self.start_s is not None else 0.0,
            end_s=end_s,
            utilization=series,
            sites=self.sites,
            tenants=self.tenants,
            tdp_w=tdp,
            measure=self.measure,
            events=self.events,
            decisions=self.decisions,
            energy=self.energy,
        )
