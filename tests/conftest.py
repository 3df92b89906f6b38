"""Fixtures shared across test areas."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cpnet.control.store.tempserver import TemporaryPostgres, pg_bin_dir

# The engine tests share one Slurm testbed and start Ray clusters: one worker runs them all.
_ONE_WORKER = "tests/executors/"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `pytest -n N` (make test): each test file goes whole to one worker, so its module-scoped
    servers start once, and tests/executors/ goes whole to one worker. (xdist's own `loadgroup`
    marks do not group under pytest 9: the node ids it rewrites are not the ones it schedules.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return _ONE_WORKER if path.startswith(_ONE_WORKER) else path

    return ByFile(config, log)


@pytest.fixture(scope="session")
def pg() -> Iterator[TemporaryPostgres]:
    """One real PostgreSQL server for the whole session (initdb + pg_ctl on 127.0.0.1), stopped at the end."""
    if pg_bin_dir() is None:
        pytest.fail("PostgreSQL is not installed; run scripts/system-deps.sh (make test does)")
    with TemporaryPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def reachable_tmp() -> Iterator[Path]:
    """A temporary directory that other users may enter (pytest's own are mode 0700): local jobs
    run as tenant users (cpnet.executors.sandbox), so their workspaces and any file a test job
    writes must live below one."""
    base = Path(tempfile.mkdtemp(prefix="cpnet-tests-", dir="/tmp"))
    os.chmod(base, 0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def job_root(reachable_tmp: Path) -> Path:
    """A job root for a local executor (its workspaces are made private by the executor)."""
    return Path(tempfile.mkdtemp(prefix="jobs-", dir=reachable_tmp))


@pytest.fixture
def shared_dir(reachable_tmp: Path) -> Path:
    """A directory every job user may write in (sticky, like /tmp), for files a test job writes."""
    path = Path(tempfile.mkdtemp(prefix="shared-", dir=reachable_tmp))
    os.chmod(path, 0o1777)
    return path
