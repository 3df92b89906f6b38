"""Real servers for the API tests: `cpnet serve` as a subprocess under uvicorn on 127.0.0.1,
over SQLite or a PostgreSQL server that the fixtures start themselves."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from live_server import Server, free_port

_dbs = itertools.count()


def _db(request: pytest.FixtureRequest, kind: str, data_dir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{data_dir / 'cpnet.db'}"
    return request.getfixturevalue("pg").create_database(f"api{next(_dbs)}_{os.getpid()}")


@pytest.fixture
def make_server(request: pytest.FixtureRequest, tmp_path: Path, reachable_tmp: Path) -> Iterator[Callable[[str], Server]]:
    made: list[Server] = []

    def make(kind: str) -> Server:
        data = tmp_path / f"srv{len(made)}"
        data.mkdir()
        port = free_port()
        srv = Server(f"http://127.0.0.1:{port}", _db(request, kind, data), data, port, job_root=Path(tempfile.mkdtemp(dir=reachable_tmp)))
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
    srv = Server(f"http://127.0.0.1:{port}", _db(request, request.param, data), data, port, job_root=Path(tempfile.mkdtemp(dir=reachable_tmp)))
    srv.start()
    yield srv
    srv.stop()
