"""`cpnet serve --workers N`: N API worker processes on one port, the reconciler in the leader.
Jobs submitted to any worker run; a kill -9 of the leader takes the workers down with it; after a
restart every acknowledged job is there and the running one is adopted, not started again."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from live_server import Server


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(d))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_workers_serve_and_die_with_the_leader(make_server: Callable[[str], Server], backend: str, tmp_path: Path) -> None:
    srv = make_server(backend)
    srv.start("--workers", "2")
    assert srv.proc is not None
    workers = [p for p in _children(srv.proc.pid) if "cpnet.api.worker" in Path(f"/proc/{p}/cmdline").read_text()]
    assert len(workers) == 2
    token = srv.tenant("w")

    def submit(i: int) -> str:
        with srv.client(token) as c:
            r = c.post("/v1/jobs", json={"command": ["sh", "-c", f"echo out{i}"], "idempotency_key": f"k{i}"})
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

    with ThreadPoolExecutor(6) as pool:
        acked = list(pool.map(submit, range(12)))
    c = srv.client(token)
    slow = c.post("/v1/jobs", json={"command": ["sleep", "30"], "idempotency_key": "slow"}).json()["id"]
    acked.append(slow)

    def states() -> dict[str, str]:
        return {j["id"]: j["state"] for j in c.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]}

    _wait(lambda: all(states()[j] == "succeeded" for j in acked[:12]) and states()[slow] == "running", 60, "jobs did not run")
    assert c.get(f"/v1/jobs/{acked[3]}/logs").text == "out3\n"  # written by the leader's executor, served by a worker

    srv.kill9()
    _wait(lambda: not any(_alive(p) for p in workers), 10, "API workers outlived the leader")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{srv.url}/healthz", timeout=2)

    srv.start("--workers", "2")
    c = srv.client(token)
    assert set(acked) <= set(states())
    kinds = [e["kind"] for e in c.get(f"/v1/jobs/{slow}/events").json()["events"]]
    assert "adopted" in kinds and kinds.count("started") == 1, kinds
    c.post(f"/v1/jobs/{slow}/cancel")
    _wait(lambda: states()[slow] == "cancelled", 20, "cancel through a worker did not end the job")
