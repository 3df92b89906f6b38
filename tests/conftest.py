"""Fixtures shared across test areas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cpnet.control.store.tempserver import TemporaryPostgres, pg_bin_dir


@pytest.fixture(scope="session")
def pg() -> Iterator[TemporaryPostgres]:
    """One real PostgreSQL server for the whole session (initdb + pg_ctl on 127.0.0.1), stopped at the end."""
    if pg_bin_dir() is None:
        pytest.fail("PostgreSQL is not installed; run scripts/system-deps.sh (make test does)")
    with TemporaryPostgres() as server:
        yield server
