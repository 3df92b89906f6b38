"""The Slurm executor's slurmrestd transport: what it makes of slurmrestd's answers, and the one line
a slurm site with `slurmrestd` gives at server start when that daemon cannot serve it (a bad URL,
nobody listening, refused credentials, another cluster). The executor's behaviour through it (jobs,
accounting, cancel, adopt) is tested with the commands' in test_slurm_executor.py."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
from pathlib import Path

import pytest

from cpnet.core.errors import CpnetError
from cpnet.core.snapshot import Placement
from cpnet.executors.base import LaunchRequest, RunStatus
from cpnet.executors.sites import SlurmSite, check_site
from cpnet.executors.slurm import SlurmExecutor, wait_status_code
from cpnet.executors.slurm_testbed import SlurmTestbed
from cpnet.executors.slurmrestd import SlurmRest, db_exit_code, db_gres_count, jwt_claims, node_state


def _token(claims: dict[str, object]) -> str:
    """An unsigned-looking JWT with these claims (the client reads them; slurmctld verifies)."""

    def part(d: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def _check(url: str, **fields: object) -> str:
    """check_site's one line for a slurm site with slurmrestd `url`."""
    with pytest.raises(CpnetError) as err:
        check_site(SlurmSite.model_validate({"id": "hpc", "engine": "slurm", "slurmrestd": url, **fields}))
    line = str(err.value)
    assert "\n" not in line and line.startswith("site 'hpc' (engine slurm): "), line
    return line.removeprefix("site 'hpc' (engine slurm): ")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- what slurmrestd's v0.0.38 answers mean ------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "flags", "sinfo"),
    [("idle", [], "idle"), ("mixed", ["DRAIN"], "mixed+drain"), ("idle", ["NOT_RESPONDING"], "idle"), ("down", ["NOT_RESPONDING"], "down")],
)
def test_node_state_reads_like_sinfo(state: str, flags: list[str], sinfo: str) -> None:
    assert node_state(state, flags) == sinfo


@pytest.mark.parametrize(
    ("value", "state", "code"),
    [
        ({"status": "SUCCESS", "return_code": 0}, "COMPLETED", 0),
        ({"status": "SUCCESS", "return_code": 0}, "FAILED", None),  # Slurm 22.05's dump of every normal exit: not believed of a failure
        ({"status": "ERROR", "return_code": 3}, "FAILED", 3),  # later versions
        ({"status": "SIGNALED", "return_code": None, "signal": {"signal_id": 15, "name": "Terminated"}}, "FAILED", 143),
        (None, "FAILED", None),
    ],
)
def test_db_exit_code(value: object, state: str, code: int | None) -> None:
    assert db_exit_code(value, state) == code


@pytest.mark.parametrize(("status", "code"), [(0, 0), (3 << 8, 3), (15, 143), (-1, None)])
def test_wait_status_code(status: int, code: int | None) -> None:
    assert wait_status_code(status) == code


def test_db_gres_count_prefers_the_untyped_count() -> None:
    tres = [{"type": "cpu", "name": None, "count": 2}, {"type": "gres", "name": "gpu", "count": 4}, {"type": "gres", "name": "gpu:a100", "count": 4}]
    assert (db_gres_count(tres, "gpu:a100"), db_gres_count(tres, "gpu"), db_gres_count(tres[:1], "gpu")) == (4, 4, None)


def test_the_token_names_the_user() -> None:
    token = _token({"sun": "alice", "exp": 4102444800})
    assert jwt_claims(token)["sun"] == "alice" and jwt_claims("not-a-jwt") == {}
    rest = SlurmRest("http://127.0.0.1:1", token=token)
    assert rest._client.headers["X-SLURM-USER-NAME"] == "alice" and rest._client.headers["X-SLURM-USER-TOKEN"] == token
    rest.close()


# -- one line at start, no daemon needed --------------------------------------------------------------
def test_a_bad_or_dead_url_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JWT", raising=False)
    assert _check("ftp://hpc:6820") == "slurmrestd URL 'ftp://hpc:6820' is neither unix:/PATH/TO/SOCKET nor http(s)://HOST:PORT"
    assert _check("hpc-login:6820").startswith("slurmrestd URL 'hpc-login:6820' is neither")
    assert _check(f"unix:{tmp_path}/none.sock") == f"no slurmrestd answers at unix:{tmp_path}/none.sock (No such file or directory)"
    port = _closed_port()
    assert "needs a JWT: set SLURM_JWT" in _check(f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SLURM_JWT", _token({"sun": "root", "exp": 4102444800}))
    assert _check(f"http://127.0.0.1:{port}") == f"no slurmrestd answers at http://127.0.0.1:{port} (Connection refused)"
    monkeypatch.setenv("SLURM_JWT", _token({"sun": "root", "exp": 1000}))
    assert _check(f"http://127.0.0.1:{port}").startswith("the JWT in $SLURM_JWT expired at 1970-01-01T00:16:40+00:00")


# -- against the test cluster's slurmrestd ------------------------------------------------------------


@pytest.mark.slurm
@pytest.mark.timeout(120)
def test_check_against_a_real_slurmrestd(slurm_cluster: SlurmTestbed, slurmrestd: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JWT", raising=False)
    ex = SlurmExecutor(site="hpc", partitions={"A100": slurm_cluster.partition}, gres={"A100": "gpu:fake"}, slurmrestd=slurmrestd, script_dir=str(tmp_path))
    ex.launch(LaunchRequest("marker", 1, Placement("marker", "hpc", "A100", 1), ["true"], log_path=str(tmp_path / "marker.log")))  # a job names the cluster
    check_site(
        SlurmSite.model_validate({"id": "hpc", "engine": "slurm", "slurmrestd": slurmrestd, "cluster": slurm_cluster.cluster, "partitions": {"A100": "cpnet"}})
    )
    assert (
        _check(slurmrestd, partitions={"A100": "gpu-a100"})
        == f"no partition gpu-a100 on the cluster behind slurmrestd {slurmrestd} (it has: {slurm_cluster.partition})"
    )
    assert (
        _check(slurmrestd, cluster="foo")
        == f"slurmrestd at {slurmrestd} serves Slurm cluster {slurm_cluster.cluster}, not 'foo' (slurmrestd v0.0.38 routes to no other cluster)"
    )


@pytest.mark.slurm
@pytest.mark.timeout(120)
def test_jwt_over_http(slurm_cluster: SlurmTestbed, slurmrestd_jwt: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rest_auth/jwt: with $SLURM_JWT a job runs and is accounted; a token slurmctld rejects, or a
    request without one (slurmrestd's 401), is one line at check."""
    url, token = slurmrestd_jwt
    monkeypatch.setenv("SLURM_JWT", token)
    site = {"id": "hpc", "engine": "slurm", "slurmrestd": url, "partitions": {"A100": slurm_cluster.partition}, "gres": {"A100": "gpu:fake"}}
    check_site(SlurmSite.model_validate(site))
    ex = SlurmExecutor(site="hpc", partitions={"A100": slurm_cluster.partition}, gres={"A100": "gpu:fake"}, slurmrestd=url, script_dir=str(tmp_path))
    assert ex.inventory() == {"hpc": {"A100": 4}}
    log = tmp_path / "jwt.log"
    ex.launch(LaunchRequest("jwt", 1, Placement("jwt", "hpc", "A100", 1), ["bash", "-c", "echo as $(id -un) on $SLURM_JOB_GPUS"], log_path=str(log)))
    deadline = time.monotonic() + 60
    while (end := {o.job_id: o for o in ex.observe()}["jwt"]).status is RunStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert (end.status, end.exit_code) == (RunStatus.SUCCEEDED, 0) and "via slurmrestd" in end.reason, end
    assert re.fullmatch(r"as root on [0-3]", log.read_text().strip()), log.read_text()  # the token's user; one of the 4 GPUs
    monkeypatch.setenv("SLURM_JWT", _token({"sun": "root", "exp": 4102444800}))  # well-formed, not signed with the cluster's key
    assert _check(url).startswith(f"slurmrestd at {url} cannot reach slurmctld for us: ")
    monkeypatch.delenv("SLURM_JWT")
    sock = f"unix:{slurm_cluster.root}/slurmrestd-jwt.sock"  # the same daemon, asked without a token
    assert _check(sock).startswith(f"slurmrestd at {sock} refused the credentials (HTTP 401 Authentication failure); ")
