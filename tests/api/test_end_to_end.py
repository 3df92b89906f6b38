"""End to end through a real uvicorn on 127.0.0.1 and the CLI client: tenant, submit, run, logs."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

import httpx
import pytest

from live_server import CPNET, Server


def _wait_state(c: httpx.Client, job_id: str, states: set[str], timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        j = c.get(f"/v1/jobs/{job_id}").json()
        if j["state"] in states:
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {states}: {j}")


def _cli(srv: Server, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CPNET_URL": srv.url, "CPNET_TOKEN": token, "CPNET_CONFIG": str(srv.data_dir / "none.yaml")}
    return subprocess.run([*CPNET, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_submit_run_logs_fail_cancel(make_server: Callable[[str], Server], backend: str) -> None:
    srv = make_server(backend)
    token = srv.tenant_cli("e2e", 2.0)
    assert token.startswith("cpt_")
    srv.start()
    c = srv.client(token)

    out = _cli(
        srv,
        token,
        "job",
        "submit",
        "--accelerator",
        "CPU",
        "--site",
        "local",
        "--",
        "sh",
        "-c",
        "echo hello $CPNET_JOB_ID on $CPNET_ACCELERATOR x$CPNET_DEVICES",
    )
    assert out.returncode == 0, out.stderr
    ok_id = out.stdout.strip()
    bad = c.post("/v1/jobs", json={"command": ["sh", "-c", "echo bye >&2; exit 42"], "idempotency_key": "bad"})
    assert bad.status_code == 201
    assert c.post("/v1/jobs", json={"command": ["sh", "-c", "exit 42"], "idempotency_key": "bad"}).status_code == 200
    slow = c.post("/v1/jobs", json={"command": ["sleep", "60"]}).json()

    ok = _wait_state(c, ok_id, {"succeeded", "failed"})
    assert ok["state"] == "succeeded" and ok["exit_code"] == 0
    assert ok["placement"] == {"site": "local", "accelerator": "CPU", "devices": 1, "emulated": False}
    assert ok["sites"] == ["local"]
    logs = _cli(srv, token, "job", "logs", "-f", ok_id)
    assert logs.returncode == 0 and logs.stdout == f"hello {ok_id} on CPU x1\n"
    failed = _wait_state(c, bad.json()["id"], {"succeeded", "failed"})
    assert failed["state"] == "failed" and failed["exit_code"] == 42
    assert c.get(f"/v1/jobs/{failed['id']}/logs").text == "bye\n"

    _wait_state(c, slow["id"], {"running"})
    cancel = _cli(srv, token, "job", "cancel", slow["id"])
    assert cancel.returncode == 0 and "cancelled" in cancel.stdout
    deadline = time.monotonic() + 20
    while "released" not in [e["kind"] for e in c.get(f"/v1/jobs/{slow['id']}/events").json()["events"]]:
        assert time.monotonic() < deadline, "cancelled job's process was not stopped"
        time.sleep(0.1)
    assert c.get(f"/v1/jobs/{slow['id']}").json()["state"] == "cancelled"

    listed = _cli(srv, token, "job", "list", "--all", "--json")
    assert listed.returncode == 0 and {j["state"] for j in __import__("json").loads(listed.stdout)} == {"succeeded", "failed", "cancelled"}
    usage = c.get("/v1/usage").json()["tenants"]["e2e"]["CPU"]
    assert usage["device_s"] > 0
    assert _cli(srv, token, "site", "list").returncode == 0
    missing = _cli(srv, token, "job", "show", "j-doesnotexist")
    assert missing.returncode != 0 and "no job 'j-doesnotexist'" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    assert "HTTP" not in missing.stderr  # the user's words, not the protocol's
    bad_state = _cli(srv, token, "job", "list", "--state", "sleeping")
    assert bad_state.returncode != 0 and "HTTP" not in bad_state.stderr and "Traceback" not in bad_state.stderr, bad_state.stderr
    assert "pending" in bad_state.stderr and "running" in bad_state.stderr, bad_state.stderr
    anonymous = _cli(srv, "", "job", "list")
    assert anonymous.returncode != 0 and "cpnet admin create-token" in anonymous.stderr, anonymous.stderr
    assert httpx.get(srv.url + "/docs").status_code == 200
