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

# The engine tests share one session-scoped Slurm testbed, and the ones that start a Ray cluster and
# join it from the test process must not run beside another (a worker died when two did): one
# worker runs these files, one after the other.
_ENGINE_FILES = ("tests/executors/", "tests/sim/test_parallel_runs.py")
# The longest work units (`--durations` on 2 cores), dealt out first, so that no worker is still on
# one of them when the others are done.
_LONGEST_FIRST = (
    "engines",
    "tests/api/test_schemathesis.py",
    "tests/api/test_admin_cli.py",
    "tests/api/test_job_cli.py",
    "tests/sched/test_properties.py",
    "tests/api/test_tokens.py",
    "tests/api/test_end_to_end.py",
    "tests/test_readme.py",
)


def _work_unit(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return "engines" if path.startswith(_ENGINE_FILES) else path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Collect the longest work units first (a stable sort: each file keeps its own order)."""
    rank = {unit: i for i, unit in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_work_unit(item.nodeid), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `pytest -n N` (make test): each test file goes whole to one worker, so its module-scoped
    servers start once, and the engine files go together to one worker; work units are dealt out in
    collection order (longest first, above). (xdist's own `loadgroup` marks do not group under
    pytest 9: the node ids it rewrites are not the ones it schedules.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    config.option.loadscopereorder = False  # keep the collection's order, not xdist's "most tests first"
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
