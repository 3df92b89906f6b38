"""The reconciler: one `step()` turns the store's desired state into running jobs.

Each step, in order (Ray autoscaler v2's shape: observe first, then act):
1. Sites: the executor's inventory is written as heartbeats; sites past their heartbeat timeout
   go DOWN (site transition table).
2. Passive sync: every executor Observation is recorded. RUNNING -> SUCCEEDED / FAILED (exit code
   and reason), RUNNING -> PENDING when the executor reports the job LOST (infrastructure; requeued
   up to `retry_limit` times, then FAILED) or when a preemption we asked for completed. Cancelled
   jobs whose process still runs are signalled until the executor reports them gone.
3. Decide: a Snapshot is built from the store and `schedule()` is called with the same policy and
   parameters as the simulator: event-driven policies when something changed, round-based ones
   at every multiple of their round. `policy_state` is carried from the previous Decision, and
   reset to None when the reconciler itself requeued jobs or a job arrived out of order.
4. Act: the Decision's transitions (PENDING -> SCHEDULED with the placement, infeasible ->
   FAILED) and its audit row are written in ONE transaction, versioned so a concurrent cancel wins;
   then each scheduled job is launched and its handle recorded (SCHEDULED -> RUNNING).

Crash safety: the intent (SCHEDULED, attempt number) is committed before the process exists, and
the handle after. `recover()` (run before the first step) re-attaches to every job that may
still run (`executor.adopt`) or requeues it when it is gone, writing which to the job's events.
A job is requeued only once its previous process is known to be gone, so it never runs twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpnet.control.store.store import JobRecord, Store
from cpnet.control.throughput import GENERIC_JOB_TYPE, GENERIC_TOTAL_STEPS, ControlThroughput
from cpnet.core.clock import Clock
from cpnet.core.model import Accelerator, JobSpec, Link, Site, Tenant, Tier
from cpnet.core.snapshot import Decision, JobView, Placement, Snapshot
from cpnet.core.states import JobState, SiteState
from cpnet.executors.base import Executor, LaunchRequest, Observation, RunStatus
from cpnet.sched.runner import SchedulerConfig, schedule

HOLDING = (JobState.SCHEDULED, JobState.RUNNING)


def job_log_path(run_dir: str | Path, job_id: str) -> Path:
    return Path(run_dir) / "logs" / f"{job_id}.log"


@dataclass(frozen=True)
class ReconcilerConfig:
    scheduler: SchedulerConfig = field(default_factory=lambda: SchedulerConfig("fifo"))
    retry_limit: int = 3  # LOST attempts before a job is FAILED
    run_dir: str = ".cpnet/runs"  # logs/<job>.log and checkpoints/<job>/
    seed: int = 0
    site_heartbeat_s: float = 10.0  # how often executor inventories are written as heartbeats
    site_timeout_s: float = 60.0  # an executor site without heartbeat this long goes DOWN
    preempt_wait_s: float = 5.0  # how long a step waits for preempted processes to stop


@dataclass
class StepReport:
    now_s: float
    decided: bool = False
    launched: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    placements: tuple[Placement, ...] = ()


class Reconciler:
    def __init__(
        self, store: Store, executor: Executor, clock: Clock, config: ReconcilerConfig | None = None, *,
        throughput: ControlThroughput | None = None, catalog: Mapping[str, Accelerator] | None = None,
        links: Sequence[Link] = (),
    ) -> None:
        self.store = store
        self.executor = executor
        self.clock = clock
        self.config = config or ReconcilerConfig()
        self.policy = self.config.scheduler.build()
        self.throughput = throughput or ControlThroughput(None)
        self.catalog = dict(catalog or {})
        self.links = tuple(links)
        self._policy_state: Any = None
        self._dirty = True
        self._next_round_s: float | None = None
        self._recovered = False
        self._specs: dict[str, JobSpec] = {}
        self._tail_arrival_s = -math.inf
        self._last_heartbeat_s = -math.inf

    # -- recovery ---------------------------------------------------------------------------------
    def recover(self) -> dict[str, str]:
        """Adopt or requeue every job a previous server may have left running; job id -> what happened."""
        now = self.clock.now()
        out: dict[str, str] = {}
        for job in self.store.active_jobs():
            if job.state not in HOLDING and job.released:
                continue
            if self.executor.adopt(job.id, job.attempt, job.handle or ""):
                self.store.add_event(job.id, now, "adopted", f"attempt {job.attempt} still known to the {self.executor.name} executor after restart; re-attached")
                out[job.id] = "adopted"
            elif job.state in HOLDING:
                self._requeue(job, now, "requeued", f"attempt {job.attempt}: process gone after restart; requeued", lost=False)
                out[job.id] = "requeued"
            else:
                self.store.update_job(job, now, "released", "process gone after restart", released=True)
                self.store.end_attempt(job.id, job.attempt, now)
                out[job.id] = "released"
        self._recovered = True
        self._policy_state = None
        self._dirty = True
        return out

    # -- one step ---------------------------------------------------------------------------------
    def step(self) -> StepReport:
        if not self._recovered:
            self.recover()
        now = self.clock.now()
        report = StepReport(now)
        self._sync_sites(now)
        jobs = {j.id: j for j in self.store.active_jobs()}
        self._passive_sync(self.executor.observe(), jobs, now, report)
        jobs = {j.id: j for j in self.store.active_jobs()}
        if self._due(now, jobs):
            self._decide_and_act(jobs, now, report)
        if len(self._specs) > 2 * len(jobs) + 1000:  # forget specs of ended jobs
            self._specs = {k: v for k, v in self._specs.items() if k in jobs}
        return report

    def _due(self, now: float, jobs: Mapping[str, JobRecord]) -> bool:
        new = [j for j in jobs.values() if j.id not in self._specs]
        if new:
            self._dirty = True
            if min(j.submitted_s for j in new) < self._tail_arrival_s:
                self._policy_state = None  # an arrival older than one already seen: full rescan
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
            for site_id, inv in self.executor.inventory().items():
                rec = self.store.get_site(site_id)
                if rec is None:
                    self.store.upsert_site(Site(site_id, Tier.EDGE, "local", 0.0, 0.0, dict(inv)), "executor", now, self.config.site_timeout_s)
                    self._dirty = True
                else:
                    if dict(rec.site.inventory) != dict(inv) or rec.state == SiteState.DOWN:
                        self._dirty = True
                    self.store.heartbeat(site_id, now, inv)
        for rec in self.store.list_sites():
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
                elif self.store.update_job(job, now, "released", f"process stopped ({o.reason or o.status.value})", released=True):
                    self.store.end_attempt(job.id, job.attempt, now, o.energy_kwh)
                    self.executor.forget(job.id)
                continue
            if o.status is RunStatus.RUNNING:
                if job.state == JobState.SCHEDULED:  # launched before a crash, handle never recorded
                    self._mark_running(job, o.handle, now)
                continue
            self._record_end(job, o, now, report)

    def _record_end(self, job: JobRecord, o: Observation, now: float, report: StepReport) -> None:
        attained, steps = self._progress(job, now)
        done = dict(finished_s=now, released=True, exit_code=o.exit_code, reason=o.reason, attained_device_s=attained, steps_done=steps)
        if o.status is RunStatus.SUCCEEDED:
            ok = self.store.transition(job, JobState.SUCCEEDED, now, "finished", o.reason, **done)
        elif o.status is RunStatus.FAILED:
            ok = self.store.transition(job, JobState.FAILED, now, "failed", o.reason, **done)
        elif o.status is RunStatus.CANCELLED:  # a preemption we asked for has completed
            ok = self._requeue(job, now, "preempted", f"attempt {job.attempt} preempted", lost=False)
            report.requeued.append(job.id)
        else:  # LOST: not the job's fault
            if job.lost_count + 1 >= self.config.retry_limit + 1:
                why = f"lost {job.lost_count + 1} times; last: {o.reason}"
                ok = self.store.transition(job, JobState.FAILED, now, "failed", why, **{**done, "reason": why})
            else:
                ok = self._requeue(job, now, "lost", f"attempt {job.attempt} lost ({o.reason}); requeued", lost=True)
                report.requeued.append(job.id)
                self._policy_state = None
        if ok:
            if o.status is not RunStatus.CANCELLED:
                self.store.end_attempt(job.id, job.attempt, now, o.energy_kwh)
                report.ended.append(job.id)
            self.executor.forget(job.id)
            self._dirty = True

    def _requeue(self, job: JobRecord, now: float, kind: str, message: str, *, lost: bool) -> bool:
        attained, steps = self._progress(job, now)
        ok = self.store.transition(
            job, JobState.PENDING, now, kind, message, site=None, accelerator=None, num_devices=None,
            handle=None, released=True, started_s=None, attained_device_s=attained, steps_done=steps,
            lost_count=job.lost_count + (1 if lost else 0),
        )
        if ok:
            self.store.end_attempt(job.id, job.attempt, now)
            self._dirty = True
        return ok

    def _progress(self, job: JobRecord, now: float) -> tuple[float, float]:
        if job.started_s is None or job.num_devices is None:
            return job.attained_device_s, job.steps_done
        held = max(now - job.started_s, 0.0)
        rate = self._rate(self._spec(job), job.accelerator or "", job.num_devices)
        return job.attained_device_s + held * job.num_devices, job.steps_done + held * rate

    # -- decide and act ---------------------------------------------------------------------------
    def snapshot(self, jobs: Mapping[str, JobRecord], now: float) -> Snapshot:
        sites = tuple(r.site for r in self.store.list_sites() if r.state == SiteState.UP)
        free = {(s.id, m): n for s in sites for m, n in s.inventory.items() if n > 0}
        views = []
        for job in sorted(jobs.values(), key=lambda j: (j.submitted_s, j.seq)):
            holding = job.state in HOLDING or (job.state == JobState.CANCELLED and not job.released)
            if holding and job.site is not None and job.accelerator is not None and job.num_devices:
                pool = (job.site, job.accelerator)
                if pool in free:
                    free[pool] = max(free[pool] - job.num_devices, 0)
            if job.state == JobState.PENDING:
                views.append(JobView(self._spec(job), None, now, job.attained_device_s, job.steps_done, 0.0, restarts=max(job.attempt - 1, 0)))
            elif job.state in HOLDING and job.site and job.accelerator and job.num_devices:
                spec = self._spec(job)
                p = Placement(job.id, job.site, job.accelerator, job.num_devices)
                as_of = job.started_s if job.started_s is not None else now
                views.append(JobView(spec, p, as_of, job.attained_device_s, job.steps_done, self._rate(spec, p.accelerator, p.num_devices), restarts=max(job.attempt - 1, 0)))
        if views:
            self._tail_arrival_s = max(self._tail_arrival_s, max(v.spec.arrival_s for v in views))
        tenants = {tid: Tenant(tid, w) for tid, w in self.store.tenants().items()}
        return Snapshot(now, sites, tuple(views), free, self.throughput, self.catalog, self.links, tenants, self.config.seed, self._policy_state)

    def _decide_and_act(self, jobs: Mapping[str, JobRecord], now: float, report: StepReport) -> None:
        snap = self.snapshot(jobs, now)
        decision: Decision = schedule(snap, self.policy)
        self._policy_state = decision.policy_state
        self._dirty = False
        report.decided = True
        report.placements = decision.placements
        if decision.empty:
            return
        moving = [p for p in decision.placements if jobs[p.job_id].state in HOLDING]
        stop = list(decision.preemptions) + [p.job_id for p in moving if (jobs[p.job_id].site, jobs[p.job_id].accelerator, jobs[p.job_id].num_devices) != (p.site, p.accelerator, p.num_devices)]
        if stop and not self._stop_all(stop, jobs, now, report):
            self._dirty = True  # devices not yet free: place nothing this step, retry next one
            return
        fresh = {j.id: j for j in self.store.active_jobs()} if stop else dict(jobs)
        changes: list[tuple[JobRecord, JobState, str, str, Mapping[str, Any]]] = []
        for inf in decision.infeasible:
            job = fresh.get(inf.job_id)
            if job is not None and job.state == JobState.PENDING:
                changes.append((job, JobState.FAILED, "infeasible", inf.reason, dict(finished_s=now, reason=f"infeasible: {inf.reason}")))
        placed = [p for p in decision.placements if fresh.get(p.job_id) is not None and fresh[p.job_id].state == JobState.PENDING]
        for p in placed:
            job = fresh[p.job_id]
            msg = f"placed on {p.num_devices} x {p.accelerator} at {p.site} (attempt {job.attempt + 1})"
            changes.append((job, JobState.SCHEDULED, "scheduled", msg, dict(site=p.site, accelerator=p.accelerator, num_devices=p.num_devices, attempt=job.attempt + 1, released=False, handle=None, started_s=None)))
        record = dict(
            placements=[[p.job_id, p.site, p.accelerator, p.num_devices] for p in decision.placements],
            preemptions=list(decision.preemptions), infeasible=[[i.job_id, i.reason] for i in decision.infeasible],
        )
        applied = self.store.apply_decision(now, self.policy.name, record, changes)
        for (job, dst, *_), ok in zip(changes, applied):
            if ok and dst == JobState.SCHEDULED:
                self._launch(self.store.get_job(job.id), now, report)  # type: ignore[arg-type]

    def _stop_all(self, job_ids: Sequence[str], jobs: Mapping[str, JobRecord], now: float, report: StepReport) -> bool:
        """Cancel the processes of preempted/moved jobs and wait (bounded) until they are gone."""
        for jid in job_ids:
            job = jobs[jid]
            self.store.add_event(jid, now, "preempting", f"stopping attempt {job.attempt} on the scheduler's decision")
            self.executor.cancel(jid, job.handle or "")
        import time as _time  # waiting for processes to exit is real time, not scheduling time

        deadline = _time.monotonic() + self.config.preempt_wait_s
        pending = set(job_ids)
        while pending:
            obs = {o.job_id: o for o in self.executor.observe() if o.job_id in pending}
            stopped = [o for o in obs.values() if o.status is not RunStatus.RUNNING]
            fresh = {j.id: j for j in self.store.active_jobs()}
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

    def _launch(self, job: JobRecord, now: float, report: StepReport) -> None:
        spec = self._spec(job)
        p = Placement(job.id, job.site or "", job.accelerator or "", job.num_devices or 0)
        env = {str(k): str(v) for k, v in (job.spec.get("env") or {}).items()}
        env["CPNET_JOB_TYPE"] = spec.job_type
        env["CPNET_TOTAL_STEPS"] = repr(spec.total_steps)
        if job.spec.get("workdir"):
            env["CPNET_WORKDIR"] = str(job.spec["workdir"])
        run_dir = Path(self.config.run_dir)
        req = LaunchRequest(job.id, job.attempt, p, list(job.spec.get("command") or []), env,
                            str(job_log_path(run_dir, job.id)), str(run_dir / "checkpoints" / job.id))
        try:
            handle = self.executor.launch(req)
        except Exception as exc:  # infrastructure failure: the job goes back to the queue
            self._requeue(job, now, "launch-failed", f"attempt {job.attempt}: launch failed: {exc}", lost=True)
            self._policy_state = None
            report.requeued.append(job.id)
            return
        self._mark_running(job, handle, now)
        report.launched.append(job.id)

    def _mark_running(self, job: JobRecord, handle: str, now: float) -> None:
        started = dict(handle=handle, started_s=now)
        if self.store.transition(job, JobState.RUNNING, now, "started", f"{self.executor.name} handle {handle}", **started):
            self.store.start_attempt(self.store.get_job(job.id), now)  # type: ignore[arg-type]

    # -- helpers ----------------------------------------------------------------------------------
    def _spec(self, job: JobRecord) -> JobSpec:
        spec = self._specs.get(job.id)
        if spec is None:
            s = job.spec
            acc = s.get("accelerator")
            spec = JobSpec(
                id=job.id, tenant=job.tenant_id, job_type=s.get("job_type") or GENERIC_JOB_TYPE,
                num_devices=int(s.get("devices", 1)), total_steps=float(s.get("total_steps") or GENERIC_TOTAL_STEPS),
                arrival_s=job.submitted_s, priority_weight=float(s.get("priority_weight", 1.0)),
                accelerators=frozenset([acc]) if acc else None, data_site=s.get("data_site"),
            )
            self._specs[job.id] = spec
        return spec

    def _rate(self, spec: JobSpec, accelerator: str, n: int) -> float:
        return self.throughput.steps_per_s(spec.job_type, accelerator, n) or 0.0

