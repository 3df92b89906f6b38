"""Fair-share history survives a restart of the server: usage is rebuilt from the store's attempts."""

from __future__ import annotations

from pathlib import Path

from cpnet.control.loop import ManualClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig
from cpnet.control.store import Store
from cpnet.control.throughput import ControlThroughput
from cpnet.core.states import JobState
from cpnet.executors.simulated import SimulatedExecutor
from cpnet.sched.runner import SchedulerConfig


def test_usage_before_a_restart_still_orders_admission_after_it(store: Store, tmp_path: Path) -> None:
    """x used the only device for 1,000 s; after a restart, x's job (submitted first) waits behind y's."""
    clock = ManualClock(0.0)
    ex = SimulatedExecutor(clock, ControlThroughput(None), {"a": {"V100": 1}})
    config = ReconcilerConfig(run_dir=str(tmp_path), site_heartbeat_s=0.0, scheduler=SchedulerConfig("fair-share"))
    store.create_tenant("x", 1.0, 0.0)
    store.create_tenant("y", 1.0, 0.0)
    used, _ = store.submit_job("x", "used", {"command": ["true"], "total_steps": 1000.0}, 0.0)
    first = Reconciler(store, ex, clock, config)
    first.step()
    clock.set(1000.0)
    first.step()
    assert store.get_job(used.id).state == JobState.SUCCEEDED  # type: ignore[union-attr]
    store.submit_job("x", "x2", {"command": ["true"], "total_steps": 10.0}, 1000.0)
    y, _ = store.submit_job("y", "y1", {"command": ["true"], "total_steps": 10.0}, 1000.5)
    clock.set(1001.0)
    Reconciler(store, ex, clock, config).step()  # a new server: its history is the store's
    running = [j.id for j in store.list_jobs() if j.state == JobState.RUNNING]
    assert running == [y.id]


def test_a_preemption_is_recorded_with_its_reason_and_the_work_it_loses(store: Store, tmp_path: Path) -> None:
    """x holds both devices since t=0 (one job since t=0, one since t=200); y arrives at t=1000: the
    newer of x's jobs (less work lost: 800 device-s) is preempted, and its events say why and what it lost."""
    clock = ManualClock(0.0)
    ex = SimulatedExecutor(clock, ControlThroughput(None), {"a": {"V100": 2}})
    config = ReconcilerConfig(run_dir=str(tmp_path), site_heartbeat_s=0.0, scheduler=SchedulerConfig("fair-share"))
    store.create_tenant("x", 1.0, 0.0)
    store.create_tenant("y", 1.0, 0.0)
    rec = Reconciler(store, ex, clock, config)
    old, _ = store.submit_job("x", "old", {"command": ["true"], "total_steps": 1e9}, 0.0)
    rec.step()
    clock.set(200.0)
    new, _ = store.submit_job("x", "new", {"command": ["true"], "total_steps": 1e9}, 200.0)
    rec.step()
    clock.set(1000.0)
    store.submit_job("y", "y1", {"command": ["true"], "total_steps": 1e9}, 1000.0)
    rec.step()
    rec.step()
    assert store.get_job(old.id).state == JobState.RUNNING  # type: ignore[union-attr]
    events = [e["message"] for e in store.job_events(new.id) if e["kind"] == "preempting"]
    assert len(events) == 1 and events[0].startswith("preempting attempt 1: fair-share: tenant y"), events
    assert events[0].endswith("lost 800 device-s since its last checkpoint"), events  # none: all since it started
