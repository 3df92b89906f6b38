"""Store backends for the control-plane tests: SQLite in a tmp dir and a real PostgreSQL server
that these fixtures start themselves (initdb + pg_ctl on a free 127.0.0.1 port) and stop."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from cpnet.control.store import Store

_dbs = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cpnet.db'}"
    return request.getfixturevalue("pg").create_database(f"t{next(_dbs)}")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.migrate()
    yield s
    s.close()
