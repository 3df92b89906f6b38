"""Durability: SIGKILL the server while jobs are queued, running and being submitted; after a
restart every acknowledged job is there, finishes, and no job ever ran twice at the same time."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from live_server import Server


def _job(marks: Path) -> list[str]:
    # Each run appends "start <job> <attempt> <ns>" and "end <job> <attempt> <ns>" lines (O_APPEND).
    script = f"echo start $CPNET_JOB_ID $CPNET_ATTEMPT $(date +%s%N) >> {marks}; sleep 1; echo end $CPNET_JOB_ID $CPNET_ATTEMPT $(date +%s%N) >> {marks}"
    return ["sh", "-c", script]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill9_loses_no_acknowledged_job_and_never_runs_one_twice(make_server: Callable[[str], Server], backend: str, shared_dir: Path) -> None:
    srv = make_server(backend)
    srv.start()
    token = srv.tenant("crash")
    marks = shared_dir / "marks.log"  # the jobs run as the tenant's user: a directory they may write in
    acked: dict[str, str] = {}  # idempotency key -> job id
    c = srv.client(token)
    for i in range(5):
        acked[f"pre{i}"] = c.post("/v1/jobs", json={"command": _job(marks), "idempotency_key": f"pre{i}"}).json()["id"]
    deadline = time.monotonic() + 20
    while sum(j["state"] == "running" for j in c.get("/v1/jobs").json()["jobs"]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    stop = threading.Event()

    def submit_forever() -> None:
        with srv.client(token) as cc:
            i = 0
            while not stop.is_set() and i < 40:
                key = f"live{i}"
                try:
                    r = cc.post("/v1/jobs", json={"command": _job(marks), "idempotency_key": key}, timeout=5)
                    if r.status_code in (200, 201):
                        acked[key] = r.json()["id"]
                except httpx.HTTPError:
                    pass  # not acknowledged: the client may retry with the same key
                i += 1
                time.sleep(0.03)

    t = threading.Thread(target=submit_forever)
    t.start()
    time.sleep(0.4)
    srv.kill9()  # mid-submission, with jobs running and queued
    stop.set()
    t.join()
    srv.start()

    c = srv.client(token)
    deadline = time.monotonic() + 90
    while True:
        jobs = {j["id"]: j for j in c.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]}
        if all(jobs.get(jid, {}).get("state") == "succeeded" for jid in acked.values()):
            break
        assert time.monotonic() < deadline, {k: jobs.get(v, {}).get("state") for k, v in acked.items()}
        time.sleep(0.2)
    assert set(acked.values()) <= set(jobs)  # every acknowledged submission survived

    runs: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for line in marks.read_text().splitlines():
        _kind, job_id, attempt, ns = line.split()
        runs[job_id].setdefault(attempt, []).append(int(ns))
    for job_id, attempts in runs.items():
        spans = sorted((v[0], v[1] if len(v) > 1 else v[0]) for v in attempts.values())
        for (_s1, e1), (s2, _) in itertools.pairwise(spans):
            assert s2 >= e1, f"{job_id} ran twice at the same time"
    # Jobs running at the kill were re-attached (adopted), not started again.
    adopted = [jid for jid in acked.values() if "adopted" in [e["kind"] for e in c.get(f"/v1/jobs/{jid}/events").json()["events"]]]
    assert adopted, "no running job was adopted after the restart"
    for jid in adopted:
        assert len(runs[jid]) == 1, f"adopted job {jid} was launched again"
    # Billing through the kill: every ended run has exactly one ledger record (a unique key keeps
    # a second out), and the chain verifies.
    from cpnet.control.store import Store

    store = Store(srv.db)
    try:
        v = store.verify_ledger()
        assert v.ok, (v.first_break, v.unbilled)
        billed = [(r["ref"], r["attempt"]) for r in store.ledger_records("crash")]
        ended = [(a["job_id"], a["attempt"]) for a in store.usage_rows() if a["end_s"] is not None and a["device_s"] is not None]
        assert sorted(billed) == sorted(ended) and len(set(billed)) == len(billed)
        assert set(jid for jid, _ in billed) >= set(acked.values())  # every job that succeeded was billed
    finally:
        store.close()
