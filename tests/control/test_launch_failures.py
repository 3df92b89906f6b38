"""Launch failures end: a spec that cannot run fails at once, an infrastructure failure counts
against the retry limit (before, both looped scheduled -> launch-failed -> pending forever)."""

from __future__ import annotations

import time
from pathlib import Path

from cpnet.control.loop import WallClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig
from cpnet.control.store import Store
from cpnet.core.states import TERMINAL_JOB_STATES, JobState
from cpnet.executors.registry import make_executor


def _run_until_ended(rec: Reconciler, store: Store, job_id: str, steps: int = 50) -> None:
    for _ in range(steps):
        rec.step()
        if store.get_job(job_id).state in TERMINAL_JOB_STATES:  # type: ignore[union-attr]
            return
        time.sleep(0.02)
    raise AssertionError(store.job_events(job_id))


def test_infrastructure_launch_failures_count_against_the_retry_limit(store: Store, tmp_path: Path, job_root: Path) -> None:
    store.create_tenant("t", 1.0, 0.0)
    run_dir = tmp_path / "runs"
    run_dir.mkdir()
    (run_dir / "logs").write_text("not a directory")  # every launch now fails opening the job's log
    ex = make_executor("local", run_dir=str(run_dir), job_root=str(job_root), gpus=[], cpus=1)
    rec = Reconciler(store, ex, WallClock(), ReconcilerConfig(run_dir=str(run_dir), retry_limit=2, site_heartbeat_s=0.0))
    job, _ = store.submit_job("t", "k", {"command": ["true"]}, time.time())
    _run_until_ended(rec, store, job.id)
    ended = store.get_job(job.id)
    assert ended is not None and ended.state == JobState.FAILED
    assert ended.reason is not None and ended.reason.startswith("retry limit hit: launch failed 3 times (retry_limit=2)")
    kinds = [e["kind"] for e in store.job_events(job.id)]
    assert kinds.count("launch-failed") == 2 and kinds[-1] == "retry-limit"


def test_a_workdir_that_does_not_exist_fails_the_job_at_once(store: Store, tmp_path: Path, job_root: Path) -> None:
    store.create_tenant("t", 1.0, 0.0)
    ex = make_executor("local", run_dir=str(tmp_path / "runs"), job_root=str(job_root), gpus=[], cpus=1)
    rec = Reconciler(store, ex, WallClock(), ReconcilerConfig(run_dir=str(tmp_path / "runs"), site_heartbeat_s=0.0))
    (tmp_path / "afile").write_text("x")
    missing, _ = store.submit_job("t", "a", {"command": ["true"], "workdir": str(tmp_path / "nope")}, time.time())
    a_file, _ = store.submit_job("t", "b", {"command": ["true"], "workdir": str(tmp_path / "afile")}, time.time())
    ok, _ = store.submit_job("t", "c", {"command": ["true"]}, time.time())
    for j in (missing, a_file, ok):
        _run_until_ended(rec, store, j.id)
    for j in (missing, a_file):
        ended = store.get_job(j.id)
        assert ended is not None and ended.state == JobState.FAILED and ended.attempt == 1
        assert "launch refused: working directory" in (ended.reason or "") and "does not exist" in (ended.reason or "")
    assert store.get_job(ok.id).state == JobState.SUCCEEDED  # type: ignore[union-attr]
