"""A real `cpnet serve` subprocess (uvicorn on 127.0.0.1) for the API tests."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cpnet.control.store import Store

CPNET = [sys.executable, "-m", "cpnet.cli.main"]


_dbs = itertools.count()


def database_for(request: pytest.FixtureRequest, kind: str, data_dir: Path) -> str:
    """A fresh database for a test server: a SQLite file in `data_dir`, or a new database on the
    session's PostgreSQL server (the `pg` fixture)."""
    if kind == "sqlite":
        return f"sqlite:///{data_dir / 'cpnet.db'}"
    return str(request.getfixturevalue("pg").create_database(f"api{next(_dbs)}_{os.getpid()}"))


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 30) -> Any:
    """Poll `check` every 0.1 s until it returns something true (returned); fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (got := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return got


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    db: str
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    _admin: str | None = None
    job_root: Path | None = None  # local jobs' workspaces; must be reachable by the tenant users

    def start(self, *extra: str) -> None:
        roots = ["--job-root", str(self.job_root)] if self.job_root is not None and "--job-root" not in extra else []
        with open(self.data_dir / "server.log", "ab") as log:  # the server keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [*CPNET, "serve", "--db", self.db, "--data-dir", str(self.data_dir), "--port", str(self.port), "--interval-s", "0.1", *roots, *extra],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError((self.data_dir / "server.log").read_text())
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def admin_token(self) -> str:
        if self._admin is None:
            store = Store(self.db)
            try:
                self._admin = store.create_token(None, time.time())
            finally:
                store.close()
        return self._admin

    def tenant(self, name: str, weight: float = 1.0) -> str:
        """Create a tenant through the admin API; returns its token."""
        r = httpx.post(f"{self.url}/v1/tenants", json={"name": name, "weight": weight}, headers={"Authorization": f"Bearer {self.admin_token()}"})
        r.raise_for_status()
        return str(r.json()["token"])

    def tenant_cli(self, name: str, weight: float = 1.0) -> str:
        """Create a tenant with the CLI, as an operator would; returns the printed token."""
        out = subprocess.run([*CPNET, "admin", "create-tenant", name, "--weight", str(weight), "--db", self.db], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def client(self, token: str | None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)
