"""Failover, shortage spill-over and metering fallbacks through the reconciler.

Sites come from the executor (the simulated engine with a manual clock, or real processes through
the local executor). Every job is `generic` (1 step/s per device), so `total_steps` is its length.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from cpnet.control.loop import ManualClock, WallClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig
from cpnet.control.store import Store
from cpnet.control.throughput import ControlThroughput
from cpnet.core.states import JobState, SiteState
from cpnet.executors.registry import make_executor
from cpnet.executors.simulated import SimulatedExecutor


def _sim(store: Store, tmp_path: Path, inventory: dict[str, dict[str, int]], retry_limit: int = 3) -> tuple[Reconciler, SimulatedExecutor, ManualClock]:
    clock = ManualClock(0.0)
    ex = SimulatedExecutor(clock, ControlThroughput(None), inventory)
    config = ReconcilerConfig(run_dir=str(tmp_path), site_heartbeat_s=0.0, retry_limit=retry_limit)
    store.create_tenant("t", 1.0, 0.0)
    return Reconciler(store, ex, clock, config), ex, clock


def _submit(store: Store, key: str, steps: float, **spec: object) -> str:
    job, _ = store.submit_job("t", key, {"command": ["true"], "total_steps": steps, **spec}, 0.0)
    return job.id


def _where(store: Store, job_id: str) -> tuple[JobState, str | None]:
    j = store.get_job(job_id)
    assert j is not None
    return j.state, j.site


@pytest.mark.parametrize(("a_full", "spill_site"), [(True, "b"), (False, "a")])
def test_shortage_spills_over_to_another_site(store: Store, tmp_path: Path, a_full: bool, spill_site: str) -> None:
    """Site a full of long jobs: a job that prefers a (its data is there) but allows b runs on b;
    a job restricted to a waits (it is not failed) and starts on a when a long job ends."""
    rec, _, clock = _sim(store, tmp_path, {"a": {"V100": 2}, "b": {"V100": 2}})
    longs = [_submit(store, f"long{i}", 1000.0, sites=["a"]) for i in range(2 if a_full else 0)]
    rec.step()
    assert all(_where(store, j) == (JobState.RUNNING, "a") for j in longs)
    clock.set(10.0)
    flexible = _submit(store, "flex", 50.0, data_site="a")
    rec.step()
    assert _where(store, flexible) == (JobState.RUNNING, spill_site)
    if not a_full:
        return
    clock.set(20.0)
    pinned = _submit(store, "pinned", 50.0, sites=["a"])
    rec.step()
    assert _where(store, pinned) == (JobState.PENDING, None)
    clock.set(1000.0)  # the long jobs end
    rec.step()
    assert _where(store, pinned) == (JobState.RUNNING, "a")
    assert all(_where(store, j)[0] == JobState.SUCCEEDED for j in longs)


def test_failed_site_goes_down_and_its_job_finishes_elsewhere(store: Store, tmp_path: Path) -> None:
    rec, ex, clock = _sim(store, tmp_path, {"a": {"V100": 1}, "b": {"V100": 1}})
    job = _submit(store, "j", 100.0, data_site="a")
    rec.step()
    assert _where(store, job) == (JobState.RUNNING, "a")
    clock.set(30.0)
    ex.fail_site("a")
    report = rec.step()
    assert report.requeued == [job]
    assert _where(store, job) == (JobState.RUNNING, "b")  # requeued and placed elsewhere in one step
    assert store.get_site("a").state == SiteState.DOWN  # type: ignore[union-attr]
    rec_job = store.get_job(job)
    assert rec_job is not None and (rec_job.attempt, rec_job.lost_count, rec_job.exit_code) == (2, 1, None)
    lost = [e for e in store.job_events(job) if e["kind"] == "lost"]
    assert len(lost) == 1 and "failed by infrastructure at a" in lost[0]["message"]
    assert [e["kind"] for e in store.job_events(job)].count("failed") == 0

    # A job that may only run on the down site waits for it instead of failing as infeasible.
    pinned = _submit(store, "pinned", 10.0, sites=["a"])
    rec.step()
    assert _where(store, pinned) == (JobState.PENDING, None)
    assert "waiting" in [e["kind"] for e in store.job_events(pinned)]
    clock.set(40.0)
    ex.restore_site("a")
    rec.step()
    assert store.get_site("a").state == SiteState.UP  # type: ignore[union-attr]
    assert _where(store, pinned) == (JobState.RUNNING, "a")
    # The first attempt held 1 device for 30 s; the simulated engine reports no timing: cpnet's clock.
    first = [r for r in store.usage_rows() if r["job_id"] == job and r["attempt"] == 1]
    assert [(r["device_s"], r["device_s_source"]) for r in first] == [(30.0, "cpnet")]


def test_lost_job_avoids_its_site_even_while_the_site_reports_capacity(store: Store, tmp_path: Path) -> None:
    """The site's devices are back by the time the loss is seen: the retry still goes elsewhere."""
    rec, ex, clock = _sim(store, tmp_path, {"a": {"V100": 1}, "b": {"V100": 1}})
    job = _submit(store, "j", 100.0, data_site="a")
    rec.step()
    assert _where(store, job) == (JobState.RUNNING, "a")
    ex.fail_site("a")
    ex.restore_site("a")
    clock.set(5.0)
    rec.step()
    assert _where(store, job) == (JobState.RUNNING, "b")
    assert store.get_site("a").state == SiteState.UP  # type: ignore[union-attr]


def test_a_restart_keeps_the_sites_a_lost_job_avoids(store: Store, tmp_path: Path) -> None:
    """b is busy: the lost job waits rather than go back to a, and still does after a server restart
    (the avoid-list is stored with the job); it runs on b once b frees up."""
    rec, ex, clock = _sim(store, tmp_path, {"a": {"V100": 1}, "b": {"V100": 1}})
    long = _submit(store, "long", 60.0, sites=["b"])
    job = _submit(store, "j", 100.0, data_site="a")
    rec.step()
    assert (_where(store, long), _where(store, job)) == ((JobState.RUNNING, "b"), (JobState.RUNNING, "a"))
    ex.fail_site("a")
    ex.restore_site("a")
    clock.set(5.0)
    rec.step()
    assert _where(store, job) == (JobState.PENDING, None)
    restarted = Reconciler(store, ex, clock, rec.config)
    clock.set(6.0)
    restarted.step()
    assert _where(store, job) == (JobState.PENDING, None)
    clock.set(60.0)
    restarted.step()
    assert _where(store, long)[0] == JobState.SUCCEEDED
    assert _where(store, job) == (JobState.RUNNING, "b")


def test_lost_job_retries_on_its_site_when_no_other_can_hold_it(store: Store, tmp_path: Path) -> None:
    rec, ex, clock = _sim(store, tmp_path, {"a": {"V100": 2}, "b": {"V100": 1}})
    job = _submit(store, "j", 100.0, devices=2)
    rec.step()
    assert _where(store, job) == (JobState.RUNNING, "a")
    ex.fail_site("a")
    ex.restore_site("a")
    clock.set(5.0)
    rec.step()
    assert _where(store, job) == (JobState.RUNNING, "a")
    assert store.get_job(job).attempt == 2  # type: ignore[union-attr]


def test_job_lost_again_and_again_fails_at_the_retry_limit(store: Store, tmp_path: Path, job_root: Path) -> None:
    """Real processes (local executor); the test kills each attempt's process group, as a node
    crash would. Infrastructure losses are not the job's failures: requeued twice, then FAILED
    with the retry limit as the reason, no exit code, and every attempt metered."""
    store.create_tenant("t", 1.0, 0.0)
    ex = make_executor("local", run_dir=str(tmp_path), job_root=str(job_root), gpus=[], cpus=1)
    rec = Reconciler(store, ex, WallClock(), ReconcilerConfig(run_dir=str(tmp_path), retry_limit=2, site_heartbeat_s=0.0))
    job, _ = store.submit_job("t", "k", {"command": ["sleep", "60"]}, time.time())

    def until(done, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, store.job_events(job.id)
            rec.step()
            time.sleep(0.05)

    for attempt in (1, 2, 3):
        until(lambda: store.get_job(job.id).state == JobState.RUNNING and store.get_job(job.id).attempt == attempt)  # type: ignore[union-attr]
        time.sleep(0.2)
        os.killpg(json.loads(store.get_job(job.id).handle)["pid"], signal.SIGKILL)  # type: ignore[arg-type, union-attr]
        until(lambda: store.get_job(job.id).state != JobState.RUNNING or store.get_job(job.id).attempt > attempt)  # type: ignore[union-attr]
        if attempt < 3:  # requeued (and maybe placed again in the same step, which clears the reason): the event says why
            lost = [e for e in store.job_events(job.id) if e["kind"] == "lost"]
            assert len(lost) == attempt and lost[-1]["message"].startswith(f"attempt {attempt} failed by infrastructure"), lost
    j = store.get_job(job.id)
    assert j is not None and j.state == JobState.FAILED and j.exit_code is None
    assert j.reason is not None and j.reason.startswith("retry limit hit: lost 3 times") and "retry_limit=2" in j.reason
    kinds = [e["kind"] for e in store.job_events(j.id)]
    assert kinds.count("lost") == 2 and kinds[-1] == "retry-limit" and "failed" not in kinds
    rows = sorted(store.usage_rows(), key=lambda r: r["attempt"])
    assert [r["attempt"] for r in rows] == [1, 2, 3]
    assert all(r["device_s_source"] == "cpnet" and r["device_s"] >= 0.2 for r in rows)


def _usage(store: Store, clock: ManualClock | WallClock) -> dict:  # type: ignore[type-arg]
    """What GET /v1/usage answers an admin (the router function on a real store)."""
    from cpnet.api.app import Services
    from cpnet.api.routers.usage import usage
    from cpnet.catalog import load_catalog
    from cpnet.control.store.store import Principal

    catalog = load_catalog()
    svc = Services(store, clock, Path("."), frozenset(catalog), ControlThroughput(None), catalog)
    return usage(svc, Principal(None, True), None)


def test_usage_falls_back_to_cpnets_clock_and_labels_energy_an_estimate(store: Store, tmp_path: Path) -> None:
    """The simulated engine reports no timing and no counters: usage says both are cpnet's."""
    rec, _, clock = _sim(store, tmp_path, {"a": {"V100": 2}})
    _submit(store, "j", 40.0, devices=2)  # 2 devices x 1 step/s each: 20 s
    rec.step()
    clock.set(20.0)
    rec.step()
    cell = _usage(store, clock)["tenants"]["t"]["V100"]
    assert cell["device_s"] == pytest.approx(40.0)
    assert (cell["device_s_source"], cell["energy_source"]) == ("cpnet", "estimate")
    assert cell["energy_kwh"] > 0  # 40 device-s x the V100's catalog TDP
