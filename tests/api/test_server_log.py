"""`cpnet serve --log-format json`: each request (method, path, status, duration, tenant; never the
token) and each scheduling decision is one JSON object per line on stderr, in the leader and in
API workers alike; text format too."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from live_server import Server, wait_for


def lines(srv: Server) -> list[dict[str, Any]]:
    out = []
    for line in (srv.data_dir / "server.log").read_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


@pytest.mark.parametrize("workers", ["0", "2"])
def test_json_lines_for_requests_and_decisions(make_server: Callable[[str], Server], workers: str) -> None:
    srv = make_server("sqlite")
    srv.start("--executor", "simulated", "--log-format", "json", "--workers", workers)
    token = srv.tenant("logged")
    with srv.client(token) as c:
        job = c.post("/v1/jobs", json={"command": ["x"], "total_steps": 1}).json()["id"]
        assert c.get("/v1/jobs/nope").status_code == 404
    with srv.client("not-a-token") as c:
        assert c.get("/v1/jobs").status_code == 401

    def logged() -> list[dict[str, Any]] | None:
        got = lines(srv)
        decided = [r for r in got if r.get("logger") == "cpnet.control" and r.get("placed")]
        return got if decided and any(r.get("status") == 401 for r in got) else None

    got = wait_for(logged, "no decision or request lines in the log")
    requests = [r for r in got if r.get("logger") == "cpnet.api.request"]
    submit = next(r for r in requests if r["method"] == "POST" and r["path"] == "/v1/jobs")
    assert submit["status"] == 201 and submit["tenant"] == "logged" and submit["duration_ms"] >= 0
    assert submit["level"] == "info" and submit["ts"].endswith("+00:00")
    missing = next(r for r in requests if r["path"] == "/v1/jobs/nope")
    assert missing["status"] == 404 and missing["tenant"] == "logged"
    refused = next(r for r in requests if r["status"] == 401)
    assert refused["tenant"] is None
    decision = next(r for r in got if r.get("logger") == "cpnet.control" and r.get("placed"))
    assert decision["policy"] == "fifo" and any(p.startswith(job) for p in decision["placements"])
    text = (srv.data_dir / "server.log").read_text()
    assert token not in text and "not-a-token" not in text  # a token is never logged


def test_text_format_and_quiet_level(make_server: Callable[[str], Server]) -> None:
    srv = make_server("sqlite")
    srv.start("--executor", "simulated")
    with srv.client(srv.admin_token()) as c:
        c.get("/v1/sites").raise_for_status()
    wait_for(lambda: "GET /v1/sites 200" in (srv.data_dir / "server.log").read_text(), "no text request line")
    line = next(x for x in (srv.data_dir / "server.log").read_text().splitlines() if "GET /v1/sites 200" in x)
    assert "INFO cpnet.api.request" in line and "tenant=admin" in line and "duration_ms=" in line
    srv.stop()

    quiet = make_server("sqlite")
    quiet.start("--executor", "simulated", "--log-level", "warning")
    with quiet.client(quiet.admin_token()) as c:
        c.get("/v1/sites").raise_for_status()
    time.sleep(0.5)
    assert "/v1/sites" not in (quiet.data_dir / "server.log").read_text()
