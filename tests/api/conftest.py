"""Real servers for the API tests: `cpnet serve` as a subprocess under uvicorn on 127.0.0.1,
over SQLite or a PostgreSQL server that the fixtures start themselves."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cpnet.control.store import Store
from cpnet.control.store.tempserver import TemporaryPostgres, pg_bin_dir

_dbs = itertools.count()
CPNET = [sys.executable, "-m", "cpnet.cli.main"]


@pytest.fixture(scope="session")
def pg() -> Iterator[TemporaryPostgres]:
    if pg_bin_dir() is None:
        pytest.fail("PostgreSQL is not installed; run scripts/system-deps.sh (make test does)")
    with TemporaryPostgres() as server:
        yield server


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

    def start(self, *extra: str) -> None:
        log = open(self.data_dir / "server.log", "ab")
        self.proc = subprocess.Popen(
            [*CPNET, "serve", "--db", self.db, "--data-dir", str(self.data_dir), "--port", str(self.port), "--interval-s", "0.1", *extra],
            stdout=log, stderr=subprocess.STDOUT,
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
        r = httpx.post(f"{self.url}/v1/tenants", json={"name": name, "weight": weight},
                       headers={"Authorization": f"Bearer {self.admin_token()}"})
        r.raise_for_status()
        return str(r.json()["token"])

    def tenant_cli(self, name: str, weight: float = 1.0) -> str:
        """Create a tenant with the CLI, as an operator would; returns the printed token."""
        out = subprocess.run([*CPNET, "admin", "create-tenant", name, "--weight", str(weight), "--db", self.db],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def client(self, token: str | None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)


def _db(request: pytest.FixtureRequest, kind: str, data_dir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{data_dir / 'cpnet.db'}"
    return request.getfixturevalue("pg").create_database(f"api{next(_dbs)}_{os.getpid()}")


@pytest.fixture
def make_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Server]]:
    made: list[Server] = []

    def make(kind: str) -> Server:
        data = tmp_path / f"srv{len(made)}"
        data.mkdir()
        port = free_port()
        srv = Server(f"http://127.0.0.1:{port}", _db(request, kind, data), data, port)
        made.append(srv)
        return srv

    yield make
    for s in made:
        s.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One running server per backend, shared by the session's tests."""
    data = tmp_path_factory.mktemp(f"srv-{request.param}")
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", _db(request, request.param, data), data, port)
    srv.start()
    yield srv
    srv.stop()
