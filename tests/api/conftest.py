"""Real servers for the API tests: `cpnet serve` as a subprocess under uvicorn on 127.0.0.1,
over SQLite or a PostgreSQL server that the fixtures start themselves."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from live_server import Server, database_for, free_port


@pytest.fixture
def make_server(request: pytest.FixtureRequest, tmp_path: Path, reachable_tmp: Path) -> Iterator[Callable[[str], Server]]:
    made: list[Server] = []

    def make(kind: str) -> Server:
        data = tmp_path / f"srv{len(made)}"
        data.mkdir()
        port = free_port()
        srv = Server(f"http://127.0.0.1:{port}", database_for(request, kind, data), data, port, job_root=Path(tempfile.mkdtemp(dir=reachable_tmp)))
        made.append(srv)
        return srv

    yield make
    for s in made:
        s.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, reachable_tmp: Path) -> Iterator[Server]:
    """One running server per backend, shared by the session's tests."""
    data = tmp_path_factory.mktemp(f"srv-{request.param}")
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", database_for(request, request.param, data), data, port, job_root=Path(tempfile.mkdtemp(dir=reachable_tmp)))
    srv.start()
    yield srv
    srv.stop()
