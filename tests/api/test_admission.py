"""Jobs no site can ever run are refused at submit (422, one CLI line with the scheduler's reason),
as `sbatch` does; a job that only has to wait is accepted. Real `cpnet serve` (scenario sites,
simulated executor) and the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

import pytest

from live_server import CPNET, Server

SCENARIO = "east-data-west-compute"  # largest pool: 40 devices; no H100 anywhere


def cli(srv: Server, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CPNET_URL": srv.url, "CPNET_TOKEN": token, "CPNET_CONFIG": str(srv.data_dir / "none.yaml")}
    return subprocess.run([*CPNET, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_never_runnable_jobs_are_refused_at_submit(make_server: Callable[[str], Server], backend: str) -> None:
    srv = make_server(backend)
    srv.start("--scenario", SCENARIO, "--executor", "simulated")
    token = srv.tenant("adm")
    cases = {
        ("--devices", "64"): "needs 64",
        ("--site", "mars"): "mars",
        ("--accelerator", "H100"): "H100",
        ("--accelerator", "MI300X", "--devices", "8"): "needs 8",  # MI300X pools hold 4
    }
    for flags, why in cases.items():
        out = cli(srv, token, "job", "submit", *flags, "--", "train")
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert out.returncode != 0 and len(lines) == 1, (flags, out.stderr)
        assert "no site can ever run it" in lines[0] and why in lines[0], (flags, lines[0])
        assert "Traceback" not in out.stderr and "HTTP" not in lines[0]
    with srv.client(token) as c:
        assert c.get("/v1/jobs").json()["jobs"] == []  # nothing was created
        ok = cli(srv, token, "job", "submit", "--accelerator", "MI300X", "--devices", "4", "--", "train")
        assert ok.returncode == 0, ok.stderr


def test_a_job_that_only_waits_is_accepted(make_server: Callable[[str], Server]) -> None:
    srv = make_server("sqlite")
    srv.start("--scenario", SCENARIO, "--executor", "simulated")
    admin, token = srv.admin_token(), srv.tenant("waits")
    site = {"id": "moon", "tier": "edge", "region": "r", "lat": 0.0, "lon": 0.0, "inventory": {"T4": 2}, "heartbeat_timeout_s": 0.1}
    with srv.client(admin) as c:
        c.post("/v1/sites", json=site).raise_for_status()
        deadline = time.monotonic() + 30
        while next(s for s in c.get("/v1/sites").json()["sites"] if s["id"] == "moon")["state"] == "up":
            assert time.monotonic() < deadline, "the site never went down"
            time.sleep(0.1)
    time.sleep(1.1)  # past the admission check's cached view of the network
    out = cli(srv, token, "job", "submit", "--site", "moon", "--", "train")
    assert out.returncode == 0, out.stderr  # moon is down, not gone: the job waits for it
    bigger = cli(srv, token, "job", "submit", "--site", "moon", "--devices", "3", "--", "train")
    assert bigger.returncode != 0 and "the largest usable pool is 2 x T4 at moon" in bigger.stderr
