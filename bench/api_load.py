"""Load test of the job-submission API (not a test): N concurrent clients submit for a fixed time.

Starts a real `cpnet serve` (uvicorn, SQLite by default) on a free 127.0.0.1 port in a temporary
data directory, creates a tenant, then runs N keep-alive HTTP/1.1 clients (a minimal asyncio
client, so the load generator costs little CPU next to the server) that each POST /v1/jobs with a
unique idempotency key as fast as answers come back. Every request is bounded by a timeout; the run
stops by itself after --duration-s. Prints one JSON object:
{"submissions_per_s", "p50_ms", "p99_ms", "errors", ...}.

    .venv/bin/python bench/api_load.py --clients 32 --duration-s 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process and its live children (threads included), from /proc:
    with --workers the service is the leader (reconciler) plus its API worker processes."""
    pids = [str(pid)]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if _stat(d)[1] == str(pid):
                    pids.append(d)
            except OSError:
                pass
    total = 0
    for p in pids:
        try:
            f = _stat(p)
        except OSError:
            continue
        total += int(f[11]) + int(f[12])
    return total / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _client(host: str, port: int, token: str, idx: int, stop_at: float, lat: list[float], errs: list[str]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    while time.perf_counter() < stop_at:
        body = json.dumps({"command": ["true"], "idempotency_key": f"c{idx}-{n}"}).encode()
        req = (
            f"POST /v1/jobs HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        t0 = time.perf_counter()
        try:
            writer.write(req)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await asyncio.wait_for(reader.readexactly(length), 10)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            errs.append(type(exc).__name__)
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
            continue
        lat.append(time.perf_counter() - t0)
        if status != 201:
            errs.append(f"HTTP {status}")
        n += 1
    writer.close()
    return n


async def _load(host: str, port: int, token: str, clients: int, duration_s: float) -> tuple[list[float], list[str], float]:
    lat: list[float] = []
    errs: list[str] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(_client(host, port, token, i, t0 + duration_s, lat, errs) for i in range(clients)))
    return lat, errs, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration-s", type=float, default=10.0)
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite in a temp dir)")
    ap.add_argument("--executor", default="simulated", help="the reconciler runs beside the API; 'simulated' spawns no processes")
    ap.add_argument("--no-reconcile", action="store_true", help="API only")
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="cpnet serve --workers (default 1, the layout the README recommends on a small machine): 0 = API and reconciler in one process; N = N API processes + the reconciler in the leader",
    )
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="cpnet-bench-"))
    db = args.db or f"sqlite:///{data / 'cpnet.db'}"
    cpnet = [sys.executable, "-m", "cpnet.cli.main"]
    token = subprocess.run([*cpnet, "admin", "create-tenant", "bench", "--db", db], capture_output=True, text=True, check=True).stdout.strip()
    port = _free_port()
    cmd = [*cpnet, "serve", "--db", db, "--data-dir", str(data), "--port", str(port), "--executor", args.executor, "--workers", str(args.workers)]
    # One tenant submits as fast as it can: its rate and queued-job limits are set out of reach
    # (not off), so that their checks are part of what is measured.
    cmd += ["--submit-rate", "1e9", "--submit-burst", "1000000000", "--max-queued-jobs", "1000000000"]
    if args.no_reconcile:
        cmd.append("--no-reconcile")
    with open(data / "server.log", "wb") as server_log:  # the server keeps its own descriptor
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=server_log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit(f"server did not start; see {data / 'server.log'}")
                time.sleep(0.2)
        cpu0 = _cpu_s(server.pid)
        lat, errs, elapsed = asyncio.run(_load("127.0.0.1", port, token, args.clients, args.duration_s))
        server_cpu_s = _cpu_s(server.pid) - cpu0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)
    lat.sort()
    # Honesty checks, read from the database after the server stopped: every acknowledged job is
    # stored, and the reconciler really ran beside the API (jobs were placed and started).
    from sqlalchemy import func, select

    from cpnet.control.store import Store
    from cpnet.control.store import schema as t

    store = Store(db)
    try:
        stored = store.count_jobs()
        with store.engine.connect() as c:
            started = int(c.execute(select(func.count()).select_from(t.jobs).where(t.jobs.c.attempt > 0)).scalar_one())
    finally:
        store.close()

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else float("nan")

    print(
        json.dumps(
            {
                "submissions_per_s": round(len(lat) / elapsed, 1),
                "p50_ms": pct(0.50),
                "p99_ms": pct(0.99),
                "errors": len(errs),
                "acknowledged": len(lat),
                "stored": stored,
                "started_by_reconciler": started,
                "clients": args.clients,
                "workers": args.workers,
                "duration_s": args.duration_s,
                "db": "sqlite" if db.startswith("sqlite") else db.split(":", 1)[0],
                "reconciler": not args.no_reconcile,
                "cpus": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                # CPU the server used per acknowledged submission: capacity per core = 1000 / this.
                "server_cpu_ms_per_submission": round(server_cpu_s * 1000 / max(len(lat), 1), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
