"""Transport limits of a real `cpnet serve` (uvicorn + httptools, cpnet.api.http_protocol): header
size and count are capped (431), slow clients are timed out (408 / close), and SIGTERM finishes
promptly while a client is half-way through sending a body.

Before: a 64 MiB header held the event loop for 8 s, 20 of 20 silent, dribbling and mid-body
connections were still open after 60 s, and one half-sent body made SIGTERM wait for that client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from live_server import Server

FAST = ("--header-timeout-s", "1", "--body-timeout-s", "2", "--keepalive-timeout-s", "1")


def _connect(srv: Server) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _read_all(s: socket.socket, timeout_s: float = 10) -> bytes:
    """Everything until the server closes (or `timeout_s`, then what came)."""
    s.settimeout(timeout_s)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return out


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0


@pytest.fixture
def fast_server(make_server: Callable[[str], Server]) -> Server:
    srv = make_server("sqlite")
    srv.start("--executor", "simulated", *FAST)
    return srv


def test_headers_over_64_kib_get_431(fast_server: Server) -> None:
    s = _connect(fast_server)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 << 10) + b"\r\n\r\n")
    raw = _read_all(s)
    assert _status(raw) == 431 and b"65536 bytes" in raw, raw[:200]
    # Just under the limit is fine.
    r = httpx.get(f"{fast_server.url}/healthz", headers={"X-Big": "a" * (60 << 10)})
    assert r.status_code == 200


def test_more_than_100_header_fields_get_431(fast_server: Server) -> None:
    s = _connect(fast_server)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n")
    raw = _read_all(s)
    assert _status(raw) == 431 and b"header fields" in raw, raw[:200]
    r = httpx.get(f"{fast_server.url}/healthz", headers={f"X-{i}": "v" for i in range(90)})
    assert r.status_code == 200


def test_a_64_mib_header_does_not_stall_the_server(fast_server: Server) -> None:
    """While one client streams a 64 MiB header, other requests are answered at once, and the
    attacker is cut off after the first 64 KiB (before: 8 s of blocked event loop)."""
    done = threading.Event()
    sent = [0]

    def attack() -> None:
        s = _connect(fast_server)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            block = b"a" * (1 << 20)
            for _ in range(64):
                s.sendall(block)
                sent[0] += len(block)
        except OSError:
            pass
        finally:
            s.close()
            done.set()

    t = threading.Thread(target=attack)
    t0 = time.monotonic()
    t.start()
    worst = 0.0
    with httpx.Client(base_url=fast_server.url, timeout=10) as c:
        while not done.is_set() and time.monotonic() - t0 < 30:
            q = time.monotonic()
            assert c.get("/healthz").status_code == 200
            worst = max(worst, time.monotonic() - q)
    t.join()
    assert time.monotonic() - t0 < 5 and sent[0] < 32 << 20, (time.monotonic() - t0, sent[0])
    assert worst < 0.5, worst


def test_silent_dribbling_and_mid_body_clients_are_cut_off(fast_server: Server) -> None:
    admin = fast_server.admin_token().encode()
    silent = [_connect(fast_server) for _ in range(7)]
    dribble = [_connect(fast_server) for _ in range(7)]
    mid_body = [_connect(fast_server) for _ in range(6)]
    for s in mid_body:
        s.sendall(
            b"POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + admin
            + b'\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name": '
        )
    t0 = time.monotonic()
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    got: dict[int, bytes] = {}
    closed: dict[int, bytes] = {}
    i = 0
    while len(closed) < 20 and time.monotonic() - t0 < 15:
        for s in dribble:  # one byte each per 0.2 s: never finishes its headers
            if id(s) not in closed:
                try:
                    s.sendall(request[i : i + 1])
                except OSError:
                    pass
        i += 1
        for s in silent + dribble + mid_body:
            if id(s) in closed:
                continue
            s.settimeout(0.01)
            try:
                data = s.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                data = b""
            if data:
                got[id(s)] = got.get(id(s), b"") + data
            else:  # the server closed it
                closed[id(s)] = got.get(id(s), b"")
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    assert len(closed) == 20, f"{20 - len(closed)} of 20 slow connections still open after {elapsed:.1f} s"
    assert elapsed < 5, elapsed
    assert all(closed[id(s)] == b"" for s in silent)  # nothing was asked: just closed
    assert all(_status(closed[id(s)]) == 408 and b"headers" in closed[id(s)] for s in dribble)
    assert all(_status(closed[id(s)]) == 408 and b"body" in closed[id(s)] for s in mid_body)
    # The server is fine, and an idle keep-alive connection is closed after its timeout too.
    s = _connect(fast_server)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    t1 = time.monotonic()
    raw = _read_all(s, 10)
    assert _status(raw) == 200 and time.monotonic() - t1 < 3


@pytest.mark.parametrize("workers", ["0", "2"])
def test_sigterm_is_prompt_with_a_half_sent_body(make_server: Callable[[str], Server], workers: str) -> None:
    srv = make_server("sqlite")
    srv.start("--executor", "simulated", "--workers", workers)  # default timeouts: 30 s for a body
    token = srv.tenant("t").encode()
    clients = []
    for _ in range(4):
        s = _connect(srv)
        s.sendall(
            b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + token
            + b'\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"command": ["tr'
        )
        clients.append(s)
    time.sleep(0.5)
    assert srv.proc is not None
    t0 = time.monotonic()
    srv.proc.terminate()
    srv.proc.wait(20)
    took = time.monotonic() - t0
    assert took < 5, f"SIGTERM took {took:.1f} s with half-sent bodies connected"
    answers = [_read_all(s, 2) for s in clients]
    assert all(a == b"" or _status(a) == 503 for a in answers), answers
