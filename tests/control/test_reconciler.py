"""The reconciler driving real processes through the local executor, on both store backends."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from cpnet.control.loop import WallClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig, job_log_path
from cpnet.control.store import Store
from cpnet.core.states import JobState
from cpnet.executors.local import LocalExecutor
from cpnet.executors.registry import make_executor


def _reconciler(store: Store, run_dir: Path, job_root: Path, retry_limit: int = 3) -> Reconciler:
    ex = make_executor("local", run_dir=str(run_dir), job_root=str(job_root), gpus=[], cpus=2)
    return Reconciler(store, ex, WallClock(), ReconcilerConfig(run_dir=str(run_dir), retry_limit=retry_limit, site_heartbeat_s=0.0))


def _until(rec: Reconciler, done, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rec.step()
        if done():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _group_alive(pgid: int) -> bool:
    """True while a non-zombie process of the group exists (zombies may wait for a reaper)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _state(store: Store, job_id: str) -> JobState:
    return store.get_job(job_id).state


def test_runs_jobs_to_success_failure_and_cancel(store: Store, tmp_path: Path, job_root: Path) -> None:
    store.create_tenant("a", 1.0, 0.0)
    rec = _reconciler(store, tmp_path, job_root)
    now = time.time()
    ok, _ = store.submit_job("a", "ok", {"command": ["sh", "-c", "echo $CPNET_JOB_ID $CPNET_SITE $CPNET_ACCELERATOR $CPNET_DEVICES"]}, now)
    bad, _ = store.submit_job("a", "bad", {"command": ["sh", "-c", "echo oops >&2; exit 7"]}, now)
    slow, _ = store.submit_job("a", "slow", {"command": ["sleep", "60"]}, now)
    _until(rec, lambda: _state(store, ok.id) == JobState.SUCCEEDED and _state(store, bad.id) == JobState.FAILED)
    assert job_log_path(tmp_path, ok.id).read_text().split() == [ok.id, "local", "CPU", "1"]
    failed = store.get_job(bad.id)
    assert failed.exit_code == 7 and "exit code 7" in failed.reason
    assert "oops" in job_log_path(tmp_path, bad.id).read_text()
    _until(rec, lambda: _state(store, slow.id) == JobState.RUNNING)
    pid = __import__("json").loads(store.get_job(slow.id).handle)["pid"]
    store.cancel_job(slow.id, time.time())
    _until(rec, lambda: store.get_job(slow.id).released)
    assert not _group_alive(pid)
    kinds = [e["kind"] for e in store.job_events(slow.id)]
    assert kinds == ["submitted", "scheduled", "started", "cancelled", "released"]


def test_gang_waits_for_free_devices(store: Store, tmp_path: Path, job_root: Path) -> None:
    store.create_tenant("a", 1.0, 0.0)
    rec = _reconciler(store, tmp_path, job_root)
    first, _ = store.submit_job("a", "1", {"command": ["sleep", "0.5"], "devices": 2}, time.time())
    second, _ = store.submit_job("a", "2", {"command": ["true"], "devices": 1}, time.time())
    too_big, _ = store.submit_job("a", "3", {"command": ["true"], "devices": 3}, time.time())
    rec.step()
    assert _state(store, first.id) == JobState.RUNNING and _state(store, second.id) == JobState.PENDING
    _until(rec, lambda: _state(store, second.id) == JobState.SUCCEEDED)
    assert store.get_job(second.id).started_s >= store.get_job(first.id).finished_s
    j = store.get_job(too_big.id)
    assert j.state == JobState.FAILED and j.reason.startswith("infeasible")


def test_lost_process_is_requeued_then_fails_at_retry_limit(store: Store, tmp_path: Path, job_root: Path) -> None:
    store.create_tenant("a", 1.0, 0.0)
    rec = _reconciler(store, tmp_path, job_root, retry_limit=1)
    job, _ = store.submit_job("a", "k", {"command": ["sleep", "60"]}, time.time())
    for attempt in (1, 2):
        _until(rec, lambda: store.get_job(job.id).state == JobState.RUNNING and store.get_job(job.id).attempt == attempt)
        # An infrastructure failure: the whole process group dies without an exit status.
        os.killpg(__import__("json").loads(store.get_job(job.id).handle)["pid"], signal.SIGKILL)
        _until(rec, lambda: store.get_job(job.id).state != JobState.RUNNING or store.get_job(job.id).attempt > attempt)
    j = store.get_job(job.id)
    assert j.state == JobState.FAILED and "lost 2 times" in j.reason
    assert [e["kind"] for e in store.job_events(job.id)].count("lost") == 1


def test_restart_adopts_live_processes_and_requeues_dead_ones(store: Store, tmp_path: Path, job_root: Path) -> None:
    store.create_tenant("a", 1.0, 0.0)
    rec = _reconciler(store, tmp_path, job_root)
    live, _ = store.submit_job("a", "live", {"command": ["sleep", "1.5"]}, time.time())
    dead, _ = store.submit_job("a", "dead", {"command": ["sleep", "60"]}, time.time())
    _until(rec, lambda: all(_state(store, j.id) == JobState.RUNNING for j in (live, dead)))
    os.killpg(__import__("json").loads(store.get_job(dead.id).handle)["pid"], signal.SIGKILL)
    # A new reconciler and executor over the same store: what a restarted server builds.
    rec2 = _reconciler(store, tmp_path, job_root)
    assert rec2.recover() == {live.id: "adopted", dead.id: "requeued"}
    _until(rec2, lambda: _state(store, live.id) == JobState.SUCCEEDED and _state(store, dead.id) == JobState.RUNNING)
    assert store.get_job(live.id).attempt == 1 and store.get_job(live.id).exit_code == 0
    assert store.get_job(dead.id).attempt == 2
    assert "adopted" in [e["kind"] for e in store.job_events(live.id)]
    assert "requeued" in [e["kind"] for e in store.job_events(dead.id)]
    store.cancel_job(dead.id, time.time())
    _until(rec2, lambda: store.get_job(dead.id).released)


def test_registry_builds_local_executor(tmp_path: Path, job_root: Path) -> None:
    ex = make_executor("local", run_dir=str(tmp_path), job_root=str(job_root), gpus=[(0, "H200"), (1, "H200")], cpus=3)
    assert isinstance(ex, LocalExecutor)
    assert ex.inventory() == {"local": {"CPU": 3, "H200": 2}}


def test_a_job_that_ended_while_the_server_was_down_is_recorded_after_restart(store: Store, tmp_path: Path, job_root: Path) -> None:
    store.create_tenant("a", 1.0, 0.0)
    rec = _reconciler(store, tmp_path, job_root)
    ok, _ = store.submit_job("a", "ok", {"command": ["sleep", "0.5"]}, time.time())
    bad, _ = store.submit_job("a", "bad", {"command": ["sh", "-c", "sleep 0.5; exit 3"]}, time.time())
    _until(rec, lambda: all(_state(store, j.id) == JobState.RUNNING for j in (ok, bad)))
    del rec  # the server is down; both jobs end meanwhile
    time.sleep(1.5)
    rec2 = _reconciler(store, tmp_path, job_root)
    assert rec2.recover() == {ok.id: "adopted", bad.id: "adopted"}
    _until(rec2, lambda: _state(store, ok.id) == JobState.SUCCEEDED and _state(store, bad.id) == JobState.FAILED, timeout_s=5)
    assert store.get_job(bad.id).exit_code == 3  # type: ignore[union-attr]


def test_a_checkpoint_written_by_the_job_reaches_the_scheduler(store: Store, tmp_path: Path, job_root: Path) -> None:
    """The checkpoint protocol: what a running job writes into $CPNET_CHECKPOINT_DIR is what a preemption would not lose."""
    store.create_tenant("a", 1.0, 0.0)
    rec = _reconciler(store, tmp_path, job_root)
    script = 'sleep 0.5; echo step > "$CPNET_CHECKPOINT_DIR/ckpt"; sleep 30'
    job, _ = store.submit_job("a", "ck", {"command": ["sh", "-c", script], "checkpoint": True}, time.time())
    plain, _ = store.submit_job("a", "no", {"command": ["sh", "-c", script]}, time.time())
    try:
        _until(rec, lambda: all(_state(store, j.id) == JobState.RUNNING for j in (job, plain)))
        assert {v.id: v.checkpoint_s for v in rec.snapshot(time.time()).jobs}[job.id] is None  # nothing written yet
        _until(rec, lambda: rec.executor.checkpoint_s(job.id) is not None, timeout_s=10.0)  # type: ignore[attr-defined]
        views = {v.id: v for v in rec.snapshot(time.time()).jobs}
        started = store.get_job(job.id).started_s  # type: ignore[union-attr]
        assert started is not None and views[job.id].checkpoint_s is not None and views[job.id].checkpoint_s >= started
        assert views[plain.id].checkpoint_s is None  # a job that did not ask for checkpointing is not read
    finally:
        for j in (job, plain):
            store.cancel_job(j.id, time.time(), "test over")
        _until(rec, lambda: all(_state(store, j.id) == JobState.CANCELLED for j in (job, plain)))
