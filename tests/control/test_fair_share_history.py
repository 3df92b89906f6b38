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
