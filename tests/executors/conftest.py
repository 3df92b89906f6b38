"""Fixtures for the engine executors: a real local Ray cluster (in the Ray test module) and a real
single-host Slurm cluster with, on demand, its REST daemon (session-scoped, below)."""

from __future__ import annotations

import os

# Ray treats 127.0.0.1 as "localhost" and swaps it for the host's routable IP (so a GCS bound to
# 127.0.0.1 is dialled at the wrong address) unless multi-host cluster mode is off. Tests keep every
# Ray process on the loopback interface. Read by ray at import time, so set before any test imports it.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


from collections.abc import Iterator
from pathlib import Path

import pytest

from cpnet.executors.slurm_testbed import SlurmTestbed, rest_installed, slurm_installed


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmTestbed]:
    """munged + slurmctld + slurmd on this host (4 CPUs, 4 fake GPUs `gpu:fake`), and, when slurmdbd
    and MariaDB are installed, a private MariaDB + slurmdbd so that `sacct` works; all stopped at the
    end, the database's files deleted."""
    if not slurm_installed():
        pytest.skip("Slurm binaries are not installed (scripts/system-deps.sh installs slurm-wlm and munge)")
    bed = SlurmTestbed(Path(tmp_path_factory.mktemp("slurm")))
    bed.start()
    try:
        yield bed
    finally:
        bed.stop(clean=True)


@pytest.fixture(scope="session")
def slurmrestd(slurm_cluster: SlurmTestbed) -> Iterator[str]:
    """Slurm's REST daemon for the test cluster on a unix socket (rest_auth/local): its URL."""
    if not rest_installed():
        pytest.skip("slurmrestd is not installed (scripts/system-deps.sh installs it)")
    url = slurm_cluster.start_rest()
    try:
        yield url
    finally:
        slurm_cluster.stop_rest(jwt=False)


@pytest.fixture(scope="session")
def slurmrestd_jwt(slurm_cluster: SlurmTestbed) -> Iterator[tuple[str, str]]:
    """Slurm's REST daemon for the test cluster on 127.0.0.1 with rest_auth/jwt: its URL and a JWT for root."""
    if not rest_installed():
        pytest.skip("slurmrestd is not installed (scripts/system-deps.sh installs it)")
    if not slurm_cluster.jwt:
        pytest.skip("Slurm's auth/jwt plugin is not installed")
    url = slurm_cluster.start_rest(jwt=True)
    try:
        yield url, slurm_cluster.token()
    finally:
        slurm_cluster.stop_rest(jwt=True)
