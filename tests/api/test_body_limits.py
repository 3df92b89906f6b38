"""The token is checked before any byte of a body is read, on every route, and every body is capped
(413): a declared Content-Length over the cap is refused at once, a body that grows past it is cut
off there. Before: FastAPI routes read the whole body first (a 50 MB body without a token grew the
server by 60 MB before its 401) and had no cap at all."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from cpnet.api.limits import Limits
from live_server import Server

LIMITS = Limits()
ROUTES = ["/v1/jobs", "/v1/sites", "/v1/sites/nowhere/heartbeat", "/v1/tenants", "/v1/tokens", "/v1/jobs/j-0/cancel"]


def _send_head(srv: Server, path: str, token: str | None, extra: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n" if token else b""
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth + extra + b"\r\n")
    return s


def _response(s: socket.socket, timeout_s: float = 3.0) -> tuple[int, dict[str, str], dict]:
    """One response (status, headers, JSON body); fails if none comes within `timeout_s`."""
    s.settimeout(timeout_s)
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = s.recv(65536)
        assert chunk, raw
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += s.recv(65536)
    return int(lines[0].split()[1]), headers, json.loads(body)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("path", ROUTES)
def test_no_token_is_refused_before_the_body(server: Server, path: str) -> None:
    s = _send_head(server, path, None, b"Content-Length: 50000000\r\n")  # and no body at all
    status, headers, body = _response(s)
    assert status == 401 and "bearer token" in body["error"] and headers["www-authenticate"] == "Bearer"
    s.close()
    s = _send_head(server, path, "cpt_not-a-token", b"Content-Length: 50000000\r\n")
    status, _, body = _response(s)
    assert (status, body["error"]) == (401, "unknown token")


@pytest.mark.parametrize("path", ROUTES)
def test_declared_length_over_the_cap_is_refused_before_the_body(server: Server, path: str) -> None:
    token = server.tenant(f"cap{ROUTES.index(path)}") if path.startswith("/v1/jobs") else server.admin_token()
    cap = LIMITS.max_submit_body_bytes if path == "/v1/jobs" else LIMITS.max_body_bytes
    s = _send_head(server, path, token, b"Content-Length: %d\r\n" % (cap + 1))
    status, headers, body = _response(s)
    assert status == 413 and headers.get("connection") == "close" and "request body over" in body["error"]


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/sites", "/v1/tenants"])
def test_a_body_growing_past_the_cap_is_cut_off(server: Server, path: str) -> None:
    token = server.tenant(f"grow{len(path)}") if path == "/v1/jobs" else server.admin_token()
    cap = LIMITS.max_submit_body_bytes if path == "/v1/jobs" else LIMITS.max_body_bytes
    s = _send_head(server, path, token, b"Transfer-Encoding: chunked\r\n")
    sent, block = 0, b"x" * (64 << 10)
    while sent <= cap:
        piece = block[: cap + 1 - sent]
        s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        sent += len(piece)
    status, _, body = _response(s, 10)
    assert status == 413 and "request body over" in body["error"]


def test_a_50_mb_body_without_a_token_costs_no_memory(server: Server) -> None:
    assert server.proc is not None
    before = _rss_kib(server.proc.pid)
    s = _send_head(server, "/v1/sites", None, b"Content-Length: 50000000\r\n")
    status, _, _ = _response(s)
    assert status == 401
    block = b"x" * (1 << 20)
    t0 = time.monotonic()
    try:
        for _ in range(50):
            s.sendall(block)
    except OSError:
        pass
    s.close()
    grown_mib = (_rss_kib(server.proc.pid) - before) / 1024
    assert grown_mib < 15, f"RSS grew by {grown_mib:.0f} MiB"
    assert time.monotonic() - t0 < 20


def test_small_bodies_still_work(server: Server) -> None:
    token = server.admin_token()
    with server.client(token) as c:
        r = c.post("/v1/sites", json={"id": "bodyok", "inventory": {"CPU": 1}})
        assert r.status_code == 201, r.text
        assert c.post("/v1/sites/bodyok/heartbeat", json={}).status_code == 200
