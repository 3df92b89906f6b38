"""The reconciler: one `step()` turns the store's desired state into running jobs.

Each step, in order (Ray autoscaler v2's shape: observe first, then act):
1. Sites: the executor's inventory is written as heartbeats; sites past their heartbeat timeout
   go DOWN (site transition table), and so does an executor site that reports no usable device
   or that the executor no longer reports (all its nodes dead or down); it keeps its last nominal inventory and comes back UP when
   devices reappear.
2. Passive sync: every executor Observation is recorded. RUNNING -> SUCCEEDED / FAILED (exit code
   and reason), RUNNING -> PENDING when a preemption we asked for completed. Cancelled jobs whose
   process still runs are signalled until the executor reports them gone.
   Failover: a LOST observation (node/site gone, process vanished) is a failure of the
   infrastructure, not of the job: event `lost`, `lost_count` + 1 (the job's exit code stays
   unset), and the job goes back to PENDING. Its retry avoids the site it was lost on for
   `lost_site_avoid_s` whenever another up site could hold it (`JobSpec.avoid_sites`, which the
   scheduler reads), and the inventories are re-read in
   the same step, so a dead site's devices are gone before the next placement. After
   `retry_limit` requeues the next loss ends the job FAILED, its reason naming the retry limit.
   Metering: each ended attempt records the device-seconds the engine reported (Ray task timing,
   Slurm accounting; `device_s_source` "engine"), or cpnet's own clock when it reported none
   ("cpnet"), and the engine's device-counter energy (NVML) when present.
3. Decide: a Snapshot is built from the live view of the store (`cpnet.control.live`: the active
   jobs follow the store's change feed, and only a job that changed gets a new JobView, so a step
   costs what changed, not the backlog) and `schedule()` is called with the same policy and
   parameters as the simulator: event-driven policies when something changed, round-based ones
   at every multiple of their round. `policy_state` is carried from the previous Decision, and
   reset to None when the reconciler itself requeued jobs or a job arrived out of order.
4. Act: the Decision's transitions (PENDING -> SCHEDULED with the placement, infeasible ->
   FAILED, unless the Decision marks it `resolvable`: the scheduler found that a known site that is
   down now could hold it, from the snapshot's `down_sites`; it waits) and its audit row are
   written in ONE transaction, versioned so a concurrent cancel wins;
   then each scheduled job is launched and its handle recorded (SCHEDULED -> RUNNING).

Crash safety: the intent (SCHEDULED, attempt number) is committed before the process exists, and
the handle after. `recover()` (run before the first step) re-attaches to every job that may
still run (`executor.adopt`) or requeues it when it is gone, writing which to the job's events.
A job is requeued only once its previous process is known to be gone, so it never runs twice.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from time import perf_counter
from typing import Any

from cpnet.catalog.compute_units import cu_rate, shipped_units
from cpnet.control.jobspec import job_spec
from cpnet.control.live import LiveJobs, LiveSites
from cpnet.control.store.ledger import UsageRecord
from cpnet.control.store.store import AttemptEnd, JobRecord, SiteRecord, Store
from cpnet.control.throughput import GENERIC_JOB_TYPE, ControlThroughput
from cpnet.core.clock import Clock
from cpnet.core.energy import EnergySignals
from cpnet.core.model import Accelerator, JobSpec, Link, Site, Tenant, Tier
from cpnet.core.paths import Paths
from cpnet.core.power import tdp_kw
from cpnet.core.snapshot import Decision, JobView, Placement, Snapshot, UsageEntry
from cpnet.core.states import JobState, SiteState
from cpnet.core.tariff import Tariff, default_tariff
from cpnet.core.tenancy import BudgetUnit, TenantTree
from cpnet.executors.base import Executor, LaunchRejected, LaunchRequest, Observation, RunStatus
from cpnet.sched.budget import budget_block
from cpnet.sched.feasibility import NetworkIndex, index_for
from cpnet.sched.framework import durable_state, rescanned_state, restored_state
from cpnet.sched.runner import SchedulerConfig, schedule
from cpnet.sched.waiting import wait_reasons

HOLDING = (JobState.SCHEDULED, JobState.RUNNING)


def job_log_path(run_dir: str | Path, job_id: str) -> Path:
    return Path(run_dir) / "logs" / f"{job_id}.log"


log = logging.getLogger("cpnet.control")
LOGGED_PLACEMENTS = 20  # placements named in a decision's log line (the count is always there)


@dataclass(frozen=True)
class ReconcilerConfig:
    scheduler: SchedulerConfig = field(default_factory=lambda: SchedulerConfig("fifo"))
    retry_limit: int = 3  # requeues after LOST attempts; the next loss ends the job FAILED
    lost_site_avoid_s: float = 600.0  # a lost job's retry avoids that site this long (if another can hold it)
    run_dir: str = ".cpnet/runs"  # logs/<job>.log and checkpoints/<job>/
    seed: int = 0
    site_heartbeat_s: float = 10.0  # how often executor inventories are written as heartbeats
    site_timeout_s: float = 60.0  # an executor site without heartbeat this long goes DOWN
    preempt_wait_s: float = 5.0  # how long a step waits for preempted processes to stop
    # Wait reasons a decision works out: the queue's first this many jobs, as many arrivals, and as
    # many more of a sweep through the rest (a long queue's tail is refreshed once per sweep).
    wait_reason_batch: int = 250
    tariff: Tariff | None = None  # what runs are billed at (None: cpnet.core.tariff.default_tariff)
    budget_check_s: float = 5.0  # how often tenants' budgets are re-read and checked against the ledger (and after each bill)


@dataclass
class StepReport:
    now_s: float
    decided: bool = False
    launched: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    placements: tuple[Placement, ...] = ()
    scheduled: int = 0  # jobs this step placed (pending -> scheduled committed)
    decide_s: float | None = None  # wall seconds the scheduling cycle took (decide and act); None: none ran


@dataclass(frozen=True, slots=True)
class _LedgerSpend:
    """Budgets' view of the ledger (cpnet.sched.budget.SpendLedger): what it billed some tenants in a
    time range, asked once per (tenants, range) in a check (a team's budget binds each of its tenants)."""

    store: Store
    _seen: dict[tuple[frozenset[str], float, float], tuple[float, float]] = field(default_factory=dict)

    def spent(self, tenants: frozenset[str], unit: BudgetUnit, start_s: float, end_s: float) -> float:
        key = (tenants, start_s, end_s)
        if key not in self._seen:
            self._seen[key] = self.store.ledger_spent(tenants, start_s, end_s)
        cu_s, usd = self._seen[key]
        return cu_s if unit is BudgetUnit.CU else usd


class Reconciler:
    def __init__(
        self,
        store: Store,
        executor: Executor,
        clock: Clock,
        config: ReconcilerConfig | None = None,
        *,
        throughput: ControlThroughput | None = None,
        catalog: Mapping[str, Accelerator] | None = None,
        links: Sequence[Link] = (),
        energy: EnergySignals | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.clock = clock
        self.config = config or ReconcilerConfig()
        self.policy = self.config.scheduler.build()
        self.throughput = throughput or ControlThroughput(None)
        self.catalog = dict(catalog or {})
        self.links = tuple(links)
        self.energy = energy  # price and carbon series read at the wall clock's now (epoch 0)
        self.tariff = self.config.tariff or default_tariff(shipped_units().default)
        self._paths_cache: tuple[tuple[str, ...], Paths] | None = None
        self._policy_state: Any = None
        self._saved_state: Any = None  # the policy state last stored (durable_state)
        params = json.dumps(dict(self.config.scheduler.params), sort_keys=True, default=str)
        self._policy_key = f"{self.config.scheduler.policy} {params}"
        self._dirty = True
        self._next_round_s: float | None = None
        self._recovered = False
        self._specs: dict[str, JobSpec] = {}
        self._tail_arrival_s = -math.inf
        self._last_heartbeat_s = -math.inf
        self._avoid: dict[str, dict[str, float]] = {}  # job id -> site it was lost on -> until when
        # Ended stretches for policies with fair share over history (Snapshot.usage_log), from the store at recovery.
        self._usage_log: list[UsageEntry] | None = [] if getattr(self.policy, "reads_usage_log", False) else None
        self._waiting_noted: set[str] = set()  # jobs told they wait for a down site
        self._holds: dict[str, str] = {}  # tenant -> why its jobs are not admitted (a spent budget)
        self._tree: TenantTree | None = None  # the store's tenant tree when it declares quotas (re-read with the budgets)
        self._tenants: dict[str, Tenant] = {}  # the tenants with their effective weights (re-read with the budgets)
        self._budgets_read_s = -math.inf
        self._billed = False  # a record was billed since the budgets were last checked
        self._held_noted: set[str] = set()  # jobs whose events say a budget holds them
        self._wait_reason: dict[str, str] = {}  # pending job -> the reason last written to its row
        self._wait_index: NetworkIndex | None = None
        self._wait_sweep = 0  # where the next sweep batch of wait reasons starts, in the queue
        self._unnoted: list[str] = []  # arrivals since the last decision (their wait reasons come first)
        # A long queue's pass of wait reasons: (snapshot, decision, views of the jobs it moved, jobs left).
        self._wait_pass: tuple[Snapshot, Decision, tuple[JobView, ...], int] | None = None
        self._live = LiveJobs(store, self._view)
        self._live_sites = LiveSites(store)
        # The up and down sites and the up pools' devices, as of `_net_of` (the records they came from).
        self._net_of: tuple[SiteRecord, ...] | None = None
        self._sites_of: tuple[SiteRecord, ...] | None = None  # the records `_site_by_id` indexes
        self._site_by_id: dict[str, Site] = {}
        self._net: tuple[tuple[Site, ...], tuple[Site, ...], dict[tuple[str, str], int]] = ((), (), {})

    # -- recovery ---------------------------------------------------------------------------------
    def recover(self) -> dict[str, str]:
        """Adopt or requeue every job a previous server may have left running; job id -> what happened."""
        now = self.clock.now()
        out: dict[str, str] = {}
        self._refresh()
        for job in sorted(self._live.jobs.values(), key=lambda j: j.seq):
            if job.state not in HOLDING and job.released:
                continue
            if self.executor.adopt(job.id, job.attempt, job.handle or ""):
                self.store.add_event(
                    job.id, now, "adopted", f"attempt {job.attempt} still known to the {self.executor.name} executor after restart; re-attached"
                )
                out[job.id] = "adopted"
            elif job.state in HOLDING:
                self._requeue(job, now, "requeued", f"attempt {job.attempt}: process gone after restart; requeued", lost=False)
                out[job.id] = "requeued"
            else:
                # when it stopped is unknown: the attempt ends unmetered and unbilled
                self.store.update_job(job, now, "released", "process gone after restart", released=True, ended=AttemptEnd(job.attempt, now))
                out[job.id] = "released"
        if self._usage_log is not None:
            self._usage_log[:] = [UsageEntry(t, jt or GENERIC_JOB_TYPE, m, d, e) for t, jt, m, d, e in self.store.ended_stretches()]
        for job in self._live.jobs.values():  # sites avoided after a loss, as stored with the job
            kept = {s: until for s, until in (job.avoid or {}).items() if until > now}
            if kept and job.state == JobState.PENDING:
                self._avoid[job.id] = kept
                self._live.invalidate((job.id,))
        stored = self.store.policy_state(self._policy_key)
        self._policy_state = restored_state(self.policy, stored[1]) if stored is not None else None
        self._saved_state = self._policy_state
        if stored is not None and self._policy_state is not None and self.policy.round_s is not None:
            # rounds go on on the grid they were on: the next is the one after the last decided
            self._next_round_s = (math.floor(stored[0] / self.policy.round_s + 1e-9) + 1) * self.policy.round_s
        self._recovered = True
        self._dirty = True
        return out

    def _rescan(self) -> None:
        self._policy_state = rescanned_state(self.policy, self._policy_state)

    # -- one step ---------------------------------------------------------------------------------
    def step(self) -> StepReport:
        if not self._recovered:
            self.recover()
        now = self.clock.now()
        report = StepReport(now)
        self._sync_sites(now)
        self._expire_avoidances(now)
        self._refresh()
        jobs = self._live.jobs  # a live mapping: each `_refresh` brings it up to date
        self._passive_sync(self.executor.observe(), jobs, now, report)
        if self._last_heartbeat_s == -math.inf:  # a job was lost: re-read inventories before placing
            self._sync_sites(now)
        self._refresh()
        self._check_budgets(now)
        if self._due(now):
            t0 = perf_counter()
            self._decide_and_act(now, report)
            report.decide_s = perf_counter() - t0
        else:
            self._sweep_wait_reasons()
        if len(self._specs) > 2 * len(jobs) + 1000:  # forget specs of ended jobs
            self._specs = {k: v for k, v in self._specs.items() if k in jobs}
            self._avoid = {k: v for k, v in self._avoid.items() if k in jobs}
            self._waiting_noted &= set(jobs)
            self._wait_reason = {k: v for k, v in self._wait_reason.items() if k in jobs}
        return report

    def _refresh(self) -> None:
        """Bring the live jobs up to date with the store; an arrival makes the next decision due."""
        new = self._live.refresh()
        if new:
            self._unnoted += (j.id for j in new)
            self._dirty = True
            if any(j.tenant_id not in self._tenants for j in new):
                self._budgets_read_s = -math.inf  # a tenant not read yet: the tree (weights, quotas, budgets) is read again this step
            if min(j.submitted_s for j in new) < self._tail_arrival_s:
                self._rescan()  # an arrival older than one already seen

    def _check_budgets(self, now: float) -> None:
        """Which tenants' budgets are spent (Snapshot.holds), from the ledger; re-read every
        `budget_check_s` (a budget set by `cpnet admin set-budget` takes effect within it)."""
        if now - self._budgets_read_s < self.config.budget_check_s and not self._billed:
            return
        self._budgets_read_s, self._billed = now, False
        tree = self.store.tenant_tree().without_empty()
        tenants = tree.tenant_models()  # weights inside a team split the team's part (TenantTree.effective_weight)
        if tenants != self._tenants:
            self._tenants, self._dirty = tenants, True
        tree_now = tree if tree.quota_dimensions() else None
        if tree_now != self._tree:  # quotas changed: decide again under them
            self._tree, self._dirty = tree_now, True
        budgets = {n.id for n in tree if n.budget is not None}
        holds: dict[str, str] = {}
        if budgets:  # a budget binds the tenants below its node (the tenant's own, its team's, its org's)
            spend = _LedgerSpend(self.store)
            for tid in sorted({t for node in budgets for t in tree.tenants(node)}):
                why = budget_block(tree, tid, now, spend)
                if why is not None:
                    holds[tid] = why
        if holds != self._holds:
            self._holds = holds
            self._dirty = True
            self._rescan()  # released jobs return to the queue out of arrival order

    def _due(self, now: float) -> bool:
        round_s = self.policy.round_s
        if round_s is None:
            return self._dirty
        if self._next_round_s is None:
            self._next_round_s = now
        if now + 1e-9 >= self._next_round_s:
            self._next_round_s = (math.floor(now / round_s + 1e-9) + 1) * round_s
            return True
        return False

    def _sync_sites(self, now: float) -> None:
        if now - self._last_heartbeat_s >= self.config.site_heartbeat_s:
            self._last_heartbeat_s = now
            reported = self.executor.inventory()
            records = {r.site.id: r for r in self._live_sites.records()}
            for known in records.values():  # an executor's site it no longer reports is gone
                if known.source == "executor" and known.site.id not in reported and known.state == SiteState.UP:
                    self.store.set_site_state(known.site.id, SiteState.DOWN)
                    self._dirty = True
            for site_id, inv in reported.items():
                rec = records.get(site_id)  # only this iteration writes this site: the record is current
                usable = any(n > 0 for n in inv.values())
                if rec is None:
                    self.store.upsert_site(Site(site_id, Tier.EDGE, "local", 0.0, 0.0, dict(inv)), "executor", now, self.config.site_timeout_s)
                    if not usable:
                        self.store.set_site_state(site_id, SiteState.DOWN)
                    self._dirty = True
                elif not usable:  # every node gone: the site is down; its nominal inventory stays
                    if rec.state == SiteState.UP:
                        self.store.set_site_state(site_id, SiteState.DOWN)
                        self._dirty = True
                else:
                    if dict(rec.site.inventory) != dict(inv) or rec.state == SiteState.DOWN:
                        self._dirty = True
                    self.store.heartbeat(site_id, now, inv)
        for rec in self._live_sites.records():
            timeout = rec.heartbeat_timeout_s
            if rec.state == SiteState.UP and timeout is not None and rec.heartbeat_s is not None and now - rec.heartbeat_s > timeout:
                self.store.set_site_state(rec.site.id, SiteState.DOWN)
                self._dirty = True

    # -- passive sync -----------------------------------------------------------------------------
    def _passive_sync(self, observations: Sequence[Observation], jobs: Mapping[str, JobRecord], now: float, report: StepReport) -> None:
        for o in observations:
            job = jobs.get(o.job_id)
            if job is None or o.attempt != job.attempt:
                if o.status is RunStatus.RUNNING:
                    self.executor.cancel(o.job_id, o.handle)
                else:
                    self.executor.forget(o.job_id)
                continue
            if job.state == JobState.CANCELLED:
                if o.status is RunStatus.RUNNING:
                    self.executor.cancel(job.id, o.handle)
                else:
                    ended = self._attempt_end(job, now, o)
                    if self.store.update_job(job, now, "released", f"process stopped ({o.reason or o.status.value})", released=True, ended=ended):
                        self._noted_end(job, ended)
                        self.executor.forget(job.id)
                continue
            if job.state == JobState.SCHEDULED:  # launched before a crash, handle never recorded
                self._mark_running([(job, o.handle)], now)
                if o.status is RunStatus.RUNNING:
                    continue
                job = self.store.get_job(job.id)  # it also ended while we were down: record that too
                if job is None or job.state != JobState.RUNNING:
                    continue
            if o.status is RunStatus.RUNNING:
                continue
            self._record_end(job, o, now, report)

    def _record_end(self, job: JobRecord, o: Observation, now: float, report: StepReport) -> None:
        attained, steps = self._progress(job, now)
        done = dict(finished_s=now, released=True, exit_code=o.exit_code, reason=o.reason, attained_device_s=attained, steps_done=steps)
        ended = self._attempt_end(job, now, o)  # for the transitions here; _requeue ends its own
        if o.status is RunStatus.SUCCEEDED:
            ok = self.store.transition(job, JobState.SUCCEEDED, now, "finished", o.reason, ended=ended, **done)
        elif o.status is RunStatus.FAILED:
            ok = self.store.transition(job, JobState.FAILED, now, "failed", o.reason, ended=ended, **done)
        elif o.status is RunStatus.CANCELLED:  # a preemption we asked for has completed
            ok = self._requeue(job, now, "preempted", f"attempt {job.attempt} preempted", lost=False, o=o)
            report.requeued.append(job.id)
        else:  # LOST: the infrastructure failed, not the job's code
            self._last_heartbeat_s = -math.inf  # the site may be gone: re-read inventories this step
            where = f"at {job.site}" if job.site else ""
            if job.lost_count >= self.config.retry_limit:
                why = (
                    f"retry limit hit: lost {job.lost_count + 1} times to infrastructure failures "
                    f"(retry_limit={self.config.retry_limit}); last {where}: {o.reason}"
                )
                ok = self.store.transition(job, JobState.FAILED, now, "retry-limit", why, ended=ended, **{**done, "reason": why})
            else:
                msg = f"attempt {job.attempt} failed by infrastructure {where} ({o.reason}); requeued, retry {job.lost_count + 1} of {self.config.retry_limit}"
                avoid = {**self._avoid.get(job.id, {}), job.site: now + self.config.lost_site_avoid_s} if job.site else None
                ok = self._requeue(job, now, "lost", msg, lost=True, o=o, reason=f"infrastructure failure {where}: {o.reason}", avoid=avoid)
                if ok and avoid:
                    self._avoid[job.id] = avoid
                report.requeued.append(job.id)
                self._rescan()
        if ok:
            if job.id not in report.requeued:  # _requeue has noted its own end
                self._noted_end(job, ended)
            if o.status is not RunStatus.CANCELLED:
                report.ended.append(job.id)
            self.executor.forget(job.id)
            self._dirty = True

    def _requeue(
        self,
        job: JobRecord,
        now: float,
        kind: str,
        message: str,
        *,
        lost: bool,
        o: Observation | None = None,
        reason: str | None = None,
        avoid: Mapping[str, float] | None = None,
    ) -> bool:
        """Back to the queue; `avoid`: the sites it is to avoid from now (site -> until), stored with it."""
        attained, steps = self._progress(job, now)
        extra: dict[str, Any] = {} if reason is None else {"reason": reason}
        if avoid:
            extra["avoid"] = dict(avoid)
        ended = self._attempt_end(job, now, o)
        ok = self.store.transition(
            job,
            JobState.PENDING,
            now,
            kind,
            message,
            site=None,
            accelerator=None,
            num_devices=None,
            handle=None,
            released=True,
            started_s=None,
            attained_device_s=attained,
            steps_done=steps,
            lost_count=job.lost_count + (1 if lost else 0),
            ended=ended,
            **extra,
        )
        if ok:
            self._noted_end(job, ended)
            self._dirty = True
        return ok

    def _attempt_end(self, job: JobRecord, now: float, o: Observation | None) -> AttemptEnd:
        """How the attempt ends: the engine's device-seconds when it reported them, else ours; and its bill."""
        if o is not None and o.device_s is not None:
            device_s, source = max(o.device_s, 0.0), "engine"
        elif job.started_s is not None and job.num_devices:
            device_s, source = max(now - job.started_s, 0.0) * job.num_devices, "cpnet"
        else:
            device_s, source = None, None
        energy = o.energy_kwh if o is not None else None
        bill = self._bill(job, now, device_s, energy) if device_s is not None else None
        return AttemptEnd(job.attempt, now, energy, device_s, source, bill)

    def _bill(self, job: JobRecord, now: float, device_s: float, device_kwh: float | None) -> UsageRecord | None:
        """The ledger record of an attempt. kWh are the facility's (device energy x PUE): the engine's
        device counters when it reported them, else TDP x device-seconds (labelled estimated)."""
        if not (job.site and job.accelerator and job.num_devices and job.started_s is not None):
            return None
        site = self._site(job.site)
        if site is None:
            return None
        start = min(job.started_s, now)
        if device_kwh is not None:
            kwh, source = device_kwh * site.pue, "engine"
        else:
            kwh, source = device_s * tdp_kw(job.accelerator, self.catalog) / 3600.0 * site.pue, "estimated"
        if self.energy is not None and now > start:
            price, carbon = self.energy.mean_price(site, start, now), self.energy.mean_carbon(site, start, now)
        else:
            price, carbon = site.price_usd_per_kwh, site.carbon_g_per_kwh
        kg = kwh * carbon / 1000.0
        # the devices' hours at the tariff: device-seconds spread evenly over the attempt's wall time
        devices = device_s / (now - start) if now > start else float(job.num_devices)
        spec = self._spec(job)
        charge = self.tariff.charge(site.id, job.accelerator, 1, start, now, energy_kwh=kwh, price_usd_per_kwh=price, kg_co2=kg, preemptible=spec.preemptible)
        compute = charge.compute_usd * devices if now > start else 0.0
        rate = cu_rate(job.accelerator, spec.job_type)
        return UsageRecord(
            t_s=now,
            tenant_id=job.tenant_id,
            kind="attempt",
            ref=job.id,
            attempt=job.attempt,
            site=site.id,
            accelerator=job.accelerator,
            num_devices=job.num_devices,
            start_s=start,
            end_s=now,
            device_s=device_s,
            cu=device_s * rate if rate is not None else None,
            energy_kwh=kwh,
            energy_source=source,
            kg_co2=kg,
            tariff=self.tariff.version,
            compute_usd=compute,
            energy_usd=charge.energy_usd,
            carbon_usd=charge.carbon_usd,
            amount_usd=compute + charge.energy_usd + charge.carbon_usd,
        )

    def _site(self, site_id: str) -> Site | None:
        """A site by id from the live records (the index is rebuilt only when the records change)."""
        records = self._live_sites.records()
        if records is not self._sites_of:
            self._sites_of, self._site_by_id = records, {r.site.id: r.site for r in records}
        return self._site_by_id.get(site_id)

    def _noted_end(self, job: JobRecord, ended: AttemptEnd) -> None:
        """An attempt the store has ended: into fair share's history; a bill makes budgets due for a check."""
        self._billed = self._billed or ended.bill is not None
        if self._usage_log is not None and ended.device_s is not None and job.accelerator:
            self._usage_log.append(UsageEntry(job.tenant_id, self._spec(job).job_type, job.accelerator, ended.device_s, ended.end_s))

    def _progress(self, job: JobRecord, now: float) -> tuple[float, float]:
        if job.started_s is None or job.num_devices is None:
            return job.attained_device_s, job.steps_done
        held = max(now - job.started_s, 0.0)
        rate = self._rate(self._spec(job), job.accelerator or "", job.num_devices)
        return job.attained_device_s + held * job.num_devices, job.steps_done + held * rate

    # -- failover ---------------------------------------------------------------------------------
    def _expire_avoidances(self, now: float) -> None:
        for job_id, sites in list(self._avoid.items()):
            gone = [s for s, until in sites.items() if until <= now]
            for site in gone:
                del sites[site]
            if not sites:
                del self._avoid[job_id]
            if gone:
                self._rescan()  # the job's allowed sites changed
                self._dirty = True
                self._live.invalidate((job_id,))  # its view's spec names the sites it avoids

    def _retry_spec(self, spec: JobSpec) -> JobSpec:
        """`spec` marked to avoid the sites it was lost on (the scheduler uses them only when no
        other site can hold it: `JobSpec.avoid_sites`)."""
        avoid = self._avoid.get(spec.id)
        return replace(spec, avoid_sites=frozenset(avoid)) if avoid else spec

    # -- decide and act ---------------------------------------------------------------------------
    def snapshot(self, now: float) -> Snapshot:
        """What the scheduler sees now: the up sites, their free devices and the active jobs' views."""
        records = self._live_sites.records()
        if records is not self._net_of:
            up = tuple(r.site for r in records if r.state == SiteState.UP)
            down = tuple(r.site for r in records if r.state != SiteState.UP)  # the scheduler tells wait from fail with these
            self._net_of, self._net = records, (up, down, {(s.id, m): n for s in up for m, n in s.inventory.items() if n > 0})
        sites, down, capacity = self._net
        if self.energy is not None:  # the values in force now; the scheduler ranks by them
            sites = tuple(self.energy.site_at(s, now) for s in sites)
        held = self._live.held
        free = {pool: max(n - held.get(pool, 0), 0) for pool, n in capacity.items()}
        views = self._with_checkpoints(self._live.views(now), now)
        if views:  # in arrival order: the last arrived last
            self._tail_arrival_s = max(self._tail_arrival_s, views[-1].spec.arrival_s)
        tenants = self._tenants
        return Snapshot(
            now,
            sites,
            views,
            free,
            self.throughput,
            self.catalog,
            self.links,
            tenants,
            self.config.seed,
            self._policy_state,
            down,
            self.energy,
            self._usage_log if self._usage_log is not None else (),
            self._holds,
            self._tree,
        )

    def _with_checkpoints(self, views: tuple[JobView, ...], now: float) -> tuple[JobView, ...]:
        """Running checkpointing jobs with the time of their newest checkpoint of this attempt (the
        checkpoint protocol's directory, where the executor can read it): what a preemption would lose."""
        newest = getattr(self.executor, "checkpoint_s", None)
        if newest is None:
            return views
        jobs = self._live.jobs
        out = list(views)
        for i, v in enumerate(views):
            job = jobs.get(v.id)
            if v.placement is None or job is None or not job.spec.get("checkpoint") or job.started_s is None:
                continue
            t = newest(v.id)
            if t is not None and t >= job.started_s:  # a checkpoint of an earlier attempt does not count
                out[i] = replace(v, checkpoint_s=min(t, now))
        return tuple(out)

    def _view(self, job: JobRecord, now: float) -> tuple[JobView | None, bool]:
        """A job's view for `LiveJobs`, and whether it holds until the job changes. A waiting job's
        quantities do not grow (rate 0), so its `as_of_s` is only a label: its submission time.
        A placed job not yet started accrues nothing until it starts: as of now, made at each snapshot."""
        restarts = max(job.attempt - 1, 0)
        if job.state == JobState.PENDING:
            return JobView(self._retry_spec(self._spec(job)), None, job.submitted_s, job.attained_device_s, job.steps_done, 0.0, restarts=restarts), True
        if job.state in HOLDING and job.site and job.accelerator and job.num_devices:
            spec = self._spec(job)
            p = Placement(job.id, job.site, job.accelerator, job.num_devices)
            as_of = job.started_s if job.started_s is not None else now
            rate = self._rate(spec, p.accelerator, p.num_devices)
            return JobView(spec, p, as_of, job.attained_device_s, job.steps_done, rate, restarts=restarts), job.started_s is not None
        return None, True

    def _note_budget_holds(self, decision: Decision, now: float) -> None:
        """A job's events say when a spent budget starts holding it (once per hold)."""
        held = {j for j, why in decision.waiting.items() if why.startswith("budget:")}
        for job_id in sorted(held - self._held_noted):
            self.store.add_event(job_id, now, "waiting", f"not admitted: {decision.waiting[job_id]}")
        self._held_noted = held

    def _decide_and_act(self, now: float, report: StepReport) -> None:
        jobs = self._live.jobs
        snap = self.snapshot(now)
        decision: Decision = schedule(snap, self.policy)
        self._policy_state = decision.policy_state
        if decision.policy_state is not self._saved_state or self.policy.round_s is not None:  # round accounting survives a restart
            data = durable_state(self.policy, decision.policy_state)
            if data is not None:
                self.store.save_policy_state(self._policy_key, data, now)
            self._saved_state = decision.policy_state
        self._dirty = False
        report.decided = True
        report.placements = decision.placements
        self._note_wait_reasons(snap, decision)
        self._note_budget_holds(decision, now)
        if decision.empty:
            return
        moving = [p for p in decision.placements if jobs[p.job_id].state in HOLDING]
        stop = list(decision.preemptions) + [
            p.job_id for p in moving if (jobs[p.job_id].site, jobs[p.job_id].accelerator, jobs[p.job_id].num_devices) != (p.site, p.accelerator, p.num_devices)
        ]
        if stop and not self._stop_all(stop, jobs, now, report, decision.preempted_why):
            self._dirty = True  # devices not yet free: place nothing this step, retry next one
            return
        if stop:
            self._refresh()  # the stopped jobs were requeued
        fresh = jobs
        changes: list[tuple[JobRecord, JobState, str, str, Mapping[str, Any]]] = []
        for inf in decision.infeasible:
            job = fresh.get(inf.job_id)
            if job is not None and job.state == JobState.PENDING and inf.resolvable:
                if job.id not in self._waiting_noted:
                    self._waiting_noted.add(job.id)
                    self.store.add_event(job.id, now, "waiting", f"no up site can hold it now ({inf.reason}); waiting for a down site to return")
            elif job is not None and job.state == JobState.PENDING:
                changes.append((job, JobState.FAILED, "infeasible", inf.reason, dict(finished_s=now, reason=f"infeasible: {inf.reason}")))
        placed = [p for p in decision.placements if fresh.get(p.job_id) is not None and fresh[p.job_id].state == JobState.PENDING]
        for p in placed:
            job = fresh[p.job_id]
            msg = f"placed on {p.num_devices} x {p.accelerator} at {p.site} (attempt {job.attempt + 1})"
            spec = self._spec(job)
            if spec.data_gb > 0 and spec.data_site is not None and spec.data_site != p.site:
                transfer_s = self._paths().transfer_s(spec.data_gb, spec.data_site, p.site)
                msg += f"; {spec.data_gb:g} GB of data to move from {spec.data_site}, about {transfer_s:.0f} s"
            changes.append(
                (
                    job,
                    JobState.SCHEDULED,
                    "scheduled",
                    msg,
                    dict(
                        site=p.site,
                        accelerator=p.accelerator,
                        num_devices=p.num_devices,
                        attempt=job.attempt + 1,
                        released=False,
                        handle=None,
                        started_s=None,
                        reason=None,
                    ),
                )
            )
        record = dict(
            placements=[[p.job_id, p.site, p.accelerator, p.num_devices] for p in decision.placements],
            preemptions=list(decision.preemptions),
            infeasible=[[i.job_id, i.reason] for i in decision.infeasible],
        )
        applied = self.store.apply_decision(now, self.policy.name, record, changes)
        if decision.placements or decision.preemptions or decision.infeasible:
            shown = [f"{p.job_id}@{p.site}/{p.accelerator}x{p.num_devices}" for p in decision.placements[:LOGGED_PLACEMENTS]]
            log.info(
                "scheduling decision (%s): %d placed, %d preempted, %d infeasible",
                self.policy.name,
                len(decision.placements),
                len(decision.preemptions),
                len(decision.infeasible),
                extra={
                    "policy": self.policy.name,
                    "placed": len(decision.placements),
                    "preempted": len(decision.preemptions),
                    "infeasible": len(decision.infeasible),
                    "placements": shown,
                    "pending": self._live.pending,
                },
            )
        started: list[tuple[JobRecord, str]] = []
        for (job, dst, _, _, fields), ok in zip(changes, applied, strict=True):
            if ok and dst == JobState.SCHEDULED:
                report.scheduled += 1
                row = replace(job, state=dst, version=job.version + 1, **fields)  # the row as the versioned update wrote it
                handle = self._launch(row, now, report)
                if handle is not None:
                    started.append((row, handle))
        self._mark_running(started, now)  # one commit for the whole batch, not two per job

    def _note_wait_reasons(self, snap: Snapshot, decision: Decision) -> None:
        """Write why waiting jobs wait (`cpnet job list`), only where it changed since the last write.

        A short queue is done whole at each decision. In a long one a decision does the first
        `wait_reason_batch` jobs and the arrivals since the last decision, and starts a pass through
        the rest that each step (`_sweep_wait_reasons`) advances by one batch: a step's cost, and the
        rows it writes, stay bounded however long the queue is."""
        self._wait_index = index_for(snap, self._wait_index)
        k = self.config.wait_reason_batch
        arrived, self._unnoted = self._unnoted[:k], []
        if len(snap.jobs) <= 3 * k:
            self._wait_pass = None
            self._write_wait_reasons(snap, decision)
            return
        named = [p.job_id for p in decision.placements] + list(decision.preemptions)
        moved = tuple(v for v in map(self._live.view, named) if v is not None)  # their old placements free devices
        self._wait_pass = (snap, decision, moved, len(snap.jobs) - k)
        fresh = tuple(v for v in map(self._live.view, arrived) if v is not None)
        self._write_wait_reasons(replace(snap, jobs=(*snap.jobs[:k], *fresh, *moved)), decision)
        self._sweep_wait_reasons()

    def _sweep_wait_reasons(self) -> None:
        """The next batch of the pass through a long queue that the last decision started, if unfinished.
        Until a decision comes, that decision's snapshot still says what the devices are doing."""
        if self._wait_pass is None:
            return
        snap, decision, moved, left = self._wait_pass
        if left <= 0:
            self._wait_pass = None
            return
        k = self.config.wait_reason_batch
        start = self._wait_sweep if k <= self._wait_sweep < len(snap.jobs) else k
        self._wait_sweep = start + k
        self._wait_pass = (snap, decision, moved, left - k)
        self._write_wait_reasons(replace(snap, jobs=(*snap.jobs[start : start + k], *moved)), decision)

    def _write_wait_reasons(self, snap: Snapshot, decision: Decision) -> None:
        assert self._wait_index is not None
        reasons = wait_reasons(snap, decision, self._wait_index, self.policy.name, round_based=self.policy.round_s is not None)
        changed = {jid: r for jid, r in reasons.items() if self._wait_reason.get(jid) != r}
        if changed:
            self.store.set_wait_reasons(changed)
            self._wait_reason.update(changed)

    def _stop_all(self, job_ids: Sequence[str], jobs: Mapping[str, JobRecord], now: float, report: StepReport, why: Mapping[str, str] | None = None) -> bool:
        """Cancel the processes of preempted/moved jobs and wait (bounded) until they are gone; each
        preempted job's event says why, as the policy words it (`preempted_why`: the rule, for which
        job, and the work it loses since its last checkpoint)."""
        for jid in job_ids:
            job = jobs[jid]
            reason = (why or {}).get(jid)
            message = f"stopping attempt {job.attempt} on the scheduler's decision" if reason is None else f"preempting attempt {job.attempt}: {reason}"
            self.store.add_event(jid, now, "preempting", message)
            self.executor.cancel(jid, job.handle or "")
        import time as _time  # waiting for processes to exit is real time, not scheduling time

        deadline = _time.monotonic() + self.config.preempt_wait_s
        pending = set(job_ids)
        while pending:
            obs = {o.job_id: o for o in self.executor.observe() if o.job_id in pending}
            stopped = [o for o in obs.values() if o.status is not RunStatus.RUNNING]
            self._refresh()
            fresh = self._live.jobs
            for o in stopped:
                if o.job_id in fresh:
                    self._record_end(fresh[o.job_id], o, now, report)
                pending.discard(o.job_id)
            pending -= {jid for jid in pending if jid not in obs}
            if pending and _time.monotonic() > deadline:
                return False
            if pending:
                _time.sleep(0.02)
        return True

    def _launch(self, job: JobRecord, now: float, report: StepReport) -> str | None:
        """Start the job's process; its handle, or None when the launch failed (the job is then
        failed or requeued here). The caller records the handle (`_mark_running`)."""
        spec = self._spec(job)
        p = Placement(job.id, job.site or "", job.accelerator or "", job.num_devices or 0)
        env = {str(k): str(v) for k, v in (job.spec.get("env") or {}).items()}
        env["CPNET_JOB_TYPE"] = spec.job_type
        env["CPNET_TOTAL_STEPS"] = repr(spec.total_steps)
        if job.spec.get("workdir"):
            env["CPNET_WORKDIR"] = str(job.spec["workdir"])
        run_dir = Path(self.config.run_dir)
        req = LaunchRequest(
            job.id,
            job.attempt,
            p,
            list(job.spec.get("command") or []),
            env,
            str(job_log_path(run_dir, job.id)),
            str(run_dir / "checkpoints" / job.id),
            job.tenant_id,
        )
        try:
            handle = self.executor.launch(req)
        except LaunchRejected as exc:  # the job's own spec cannot run here: retrying cannot help
            why = f"launch refused: {exc}"
            self.store.transition(job, JobState.FAILED, now, "launch-refused", why, finished_s=now, released=True, reason=why)
            report.ended.append(job.id)
            self._dirty = True
            return None
        except Exception as exc:  # infrastructure failure: back to the queue, counted against the retry limit
            if job.lost_count >= self.config.retry_limit:
                why = f"retry limit hit: launch failed {job.lost_count + 1} times (retry_limit={self.config.retry_limit}); last: {exc}"
                self.store.transition(job, JobState.FAILED, now, "retry-limit", why, finished_s=now, released=True, reason=why)
                report.ended.append(job.id)
            else:
                self._requeue(
                    job,
                    now,
                    "launch-failed",
                    f"attempt {job.attempt}: launch failed: {exc}; retry {job.lost_count + 1} of {self.config.retry_limit}",
                    lost=True,
                )
                report.requeued.append(job.id)
            self._rescan()
            self._dirty = True
            return None
        report.launched.append(job.id)
        return handle

    def _mark_running(self, started: Sequence[tuple[JobRecord, str]], now: float) -> None:
        """SCHEDULED -> RUNNING with each (job, handle), and each attempt's usage row opened."""
        if started:
            self.store.start_jobs([(job, handle, f"{self.executor.name} handle {handle}") for job, handle in started], now)

    # -- helpers ----------------------------------------------------------------------------------
    def _spec(self, job: JobRecord) -> JobSpec:
        spec = self._specs.get(job.id)
        if spec is None:
            spec = job_spec(job.id, job.tenant_id, job.spec, job.submitted_s)
            self._specs[job.id] = spec
        return spec

    def _paths(self) -> Paths:
        sites = tuple(r.site.id for r in self._live_sites.records())
        if self._paths_cache is None or self._paths_cache[0] != sites:
            self._paths_cache = (sites, Paths.build(sites, self.links))
        return self._paths_cache[1]

    def _rate(self, spec: JobSpec, accelerator: str, n: int) -> float:
        return self.throughput.steps_per_s(spec.job_type, accelerator, n) or 0.0
