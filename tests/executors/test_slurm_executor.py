"""The Slurm executor against a real single-host Slurm cluster (tests/executors/conftest.py), through
both of its transports: Slurm's commands and slurmrestd (on a unix socket); and a site whose
`cluster` is reached only through slurmdbd's routing (`--clusters`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cpnet.core.errors import CpnetError
from cpnet.core.snapshot import Placement
from cpnet.executors.base import LaunchRequest, Observation, RunStatus
from cpnet.executors.registry import make_executor
from cpnet.executors.slurm import SlurmExecutor, exit_code, gres_count, tres_count
from cpnet.executors.slurm_testbed import SlurmTestbed

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(120)]


# where each transport says a finished job's record came from: slurmdbd's, slurmctld's
SOURCES = {"commands": ("sacct", "scontrol"), "slurmrestd": ("slurmdbd via slurmrestd", "slurmctld via slurmrestd")}


@pytest.fixture(params=sorted(SOURCES))
def transport(request: pytest.FixtureRequest, slurm_cluster: SlurmTestbed) -> dict[str, str]:
    """How the executor reaches the test cluster: its slurm.conf for the commands, or the URL of its slurmrestd."""
    if request.param == "slurmrestd":
        return {"slurmrestd": request.getfixturevalue("slurmrestd")}
    return {"slurm_conf": str(slurm_cluster.conf)}


def _source(ex: SlurmExecutor) -> tuple[str, str]:
    return SOURCES["slurmrestd" if ex.transport.__class__.__name__ == "SlurmRest" else "commands"]


@pytest.fixture
def executor(slurm_cluster: SlurmTestbed, transport: dict[str, str], tmp_path: Path) -> SlurmExecutor:
    ex = make_executor(
        "slurm", site="hpc", partitions={"A100": slurm_cluster.partition}, gres={"A100": "gpu:fake"}, script_dir=str(tmp_path / "scripts"), **transport
    )
    assert isinstance(ex, SlurmExecutor)
    return ex


def _request(tmp: Path, job_id: str, n: int, script: str) -> LaunchRequest:
    return LaunchRequest(
        job_id,
        1,
        Placement(job_id, "hpc", "A100", n),
        ["bash", "-c", script],
        {"EXTRA": "x y"},
        str(tmp / "logs" / f"{job_id}.log"),
        str(tmp / "ckpt" / job_id),
    )


def _sacct(bed: SlurmTestbed, handle: str) -> dict[str, str]:
    """What `sacct` itself says of a job (the allocation line), read independently of the executor."""
    out = bed._run("sacct", "-j", handle, "-X", "-n", "-P", "--format=JobIDRaw,State,ExitCode,ElapsedRaw,AllocTRES")
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.splitlines()
    return dict(zip(("id", "state", "exit", "elapsed_s", "tres"), line.split("|"), strict=True))


def _wait(ex: SlurmExecutor, job_id: str, want_running: bool = False, timeout_s: float = 60) -> Observation:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        o = {o.job_id: o for o in ex.observe()}[job_id]
        if (o.status is RunStatus.RUNNING) == want_running:
            return o
        time.sleep(0.3)
    raise AssertionError(f"{job_id}: no change within {timeout_s} s")


@pytest.mark.parametrize(
    ("gres", "name", "count"),
    [
        ("gpu:fake:4(S:0)", "gpu", 4),
        ("gpu:a100:4,gpu:t4:2", "gpu:t4", 2),
        ("gpu:a100:4,gpu:t4:2", "gpu", 6),
        ("(null)", "gpu", 0),
    ],
)
def test_gres_count(gres: str, name: str, count: int) -> None:
    assert gres_count(gres, name) == count


@pytest.mark.parametrize(
    ("tres", "gres", "count"),
    [
        ("billing=2,cpu=2,gres/gpu=2,node=1", "gpu:fake", 2),
        ("cpu=8,gres/gpu:a100=4,gres/gpu=4", "gpu:a100", 4),
        ("cpu=1,gres/gpu:a100=3", "gpu:a100", 3),
        ("billing=1,cpu=1,node=1", "gpu", None),
        ("", "gpu", None),
    ],
)
def test_tres_count(tres: str, gres: str, count: int | None) -> None:
    assert tres_count(tres, gres) == count


@pytest.mark.parametrize(("text", "code"), [("0:0", 0), ("3:0", 3), ("0:15", 143), ("", None)])
def test_exit_code(text: str, code: int | None) -> None:
    assert exit_code(text) == code


def test_inventory_counts_gres_of_usable_nodes(executor: SlurmExecutor) -> None:
    assert executor.inventory() == {"hpc": {"A100": 4}}


def test_submit_run_and_account(executor: SlurmExecutor, slurm_cluster: SlurmTestbed, transport: dict[str, str], tmp_path: Path) -> None:
    req = _request(
        tmp_path,
        "ok",
        2,
        'echo "$CPNET_JOB_ID $CPNET_SITE $CPNET_ACCELERATOR $CPNET_DEVICES [$EXTRA] gpus=$SLURM_JOB_GPUS ckpt=$CPNET_CHECKPOINT_DIR"; sleep 2',
    )
    handle = executor.launch(req)
    assert handle.isdigit()
    end = _wait(executor, "ok")
    assert (end.status, end.exit_code) == (RunStatus.SUCCEEDED, 0), end
    assert Path(req.log_path).read_text().strip() == f"ok hpc A100 2 [x y] gpus=0,1 ckpt={req.checkpoint_dir}"
    assert Path(req.checkpoint_dir).is_dir()
    # Slurm's own elapsed time (whole seconds) x the 2 GPUs it allocated; the job sleeps 2 s.
    assert end.device_s is not None and 4.0 <= end.device_s <= 12.0
    dbd, ctld = _source(executor)
    if slurm_cluster.accounting:  # slurmdbd: the numbers are sacct's ElapsedRaw x AllocTRES gres/gpu
        acct = _sacct(slurm_cluster, handle)
        assert acct["state"] == "COMPLETED" and "gres/gpu=2" in acct["tres"].split(","), acct
        assert end.reason.endswith(f"({dbd})") and end.device_s == int(acct["elapsed_s"]) * 2, (end, acct)
    else:
        assert end.reason.endswith(f"({ctld})"), end
    # The fallbacks, without slurmdbd: slurmctld's record (while in memory), then Slurm's completion log.
    shown = executor.transport.in_memory(handle, "gpu:fake")
    assert shown is not None and (shown.state, shown.exit_code, shown.source) == ("COMPLETED", 0, ctld) and shown.elapsed_s is not None
    logged = executor.transport.completion_log(handle)
    if "slurmrestd" in transport:  # a file on the controller's host: not a REST client's to read
        assert logged is None
    else:
        assert logged is not None and logged.state == "COMPLETED" and logged.elapsed_s is not None and logged.elapsed_s >= 2
    executor.forget("ok")
    assert executor.observe() == []


def test_failing_job_reports_exit_code(executor: SlurmExecutor, slurm_cluster: SlurmTestbed, tmp_path: Path) -> None:
    handle = executor.launch(_request(tmp_path, "bad", 1, "echo failing; exit 3"))
    end = _wait(executor, "bad")
    assert (end.status, end.exit_code) == (RunStatus.FAILED, 3)
    assert "FAILED" in end.reason
    if slurm_cluster.accounting:
        acct = _sacct(slurm_cluster, handle)
        assert (acct["state"], acct["exit"]) == ("FAILED", "3:0"), acct
        assert end.reason == f"Slurm FAILED, exit code 3 ({_source(executor)[0]})"


def test_cancel(executor: SlurmExecutor, tmp_path: Path) -> None:
    req = _request(tmp_path, "long", 1, "echo started; sleep 60")
    executor.launch(req)
    deadline = time.monotonic() + 30
    while "started" not in (Path(req.log_path).read_text() if Path(req.log_path).exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    executor.cancel("long", "")
    executor.cancel("long", "")  # idempotent
    end = _wait(executor, "long")
    assert end.status is RunStatus.CANCELLED


def test_node_failure_is_lost_not_failed(executor: SlurmExecutor, slurm_cluster: SlurmTestbed, tmp_path: Path) -> None:
    req = _request(tmp_path, "victim", 1, "echo started; sleep 60")
    executor.launch(req)
    deadline = time.monotonic() + 30
    while "started" not in (Path(req.log_path).read_text() if Path(req.log_path).exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    run = slurm_cluster._run  # the admin's view: take the node down under the running job
    assert run("scontrol", "update", "nodename=cpnet0", "state=down", "reason=test").returncode == 0
    try:
        end = _wait(executor, "victim")
        assert end.status is RunStatus.LOST and "NODE_FAIL" in end.reason
        assert executor.inventory() == {"hpc": {"A100": 0}}  # a down node's GPUs are not capacity
    finally:
        run("scontrol", "update", "nodename=cpnet0", "state=resume")
        deadline = time.monotonic() + 20
        while run("sinfo", "-h", "-N", "-o", "%t").stdout.strip() != "idle" and time.monotonic() < deadline:
            time.sleep(0.3)


def test_adopt_after_restart(executor: SlurmExecutor, slurm_cluster: SlurmTestbed, transport: dict[str, str], tmp_path: Path) -> None:
    handle = executor.launch(_request(tmp_path, "kept", 1, "sleep 1"))
    fresh = make_executor("slurm", site="hpc", partitions={"A100": slurm_cluster.partition}, gres={"A100": "gpu:fake"}, **transport)
    assert fresh.adopt("kept", 1, handle)
    assert fresh.adopt("kept", 1, "")  # handle never recorded: found by its job name
    assert not fresh.adopt("ghost", 1, "999999")
    assert _wait(fresh, "kept").status is RunStatus.SUCCEEDED


def test_reconciler_meters_what_slurm_accounts(executor: SlurmExecutor, slurm_cluster: SlurmTestbed, tmp_path: Path) -> None:
    """Through the real reconciler, on a manual clock that jumps 1000 s while the job runs: the
    usage row holds Slurm's elapsed x allocated GPUs, not the reconciler's 2000 device-seconds,
    and the job sees the variables the reconciler sets (type, steps, working directory)."""
    from cpnet.control.loop import ManualClock
    from cpnet.control.reconciler import Reconciler, ReconcilerConfig
    from cpnet.control.store.store import Store
    from cpnet.core.states import JobState

    store = Store(f"sqlite:///{tmp_path / 'cpnet.db'}")
    store.migrate()
    store.create_tenant("t", 1.0, 0.0)
    workdir = tmp_path / "wd"
    workdir.mkdir()
    script = 'echo "$CPNET_JOB_TYPE $CPNET_TOTAL_STEPS $CPNET_WORKDIR $PWD" > env.txt; sleep 2'
    spec = {"command": ["bash", "-c", script], "devices": 2, "accelerator": "A100", "total_steps": 42, "workdir": str(workdir)}
    job, _ = store.submit_job("t", "metered", spec, 0.0)
    clock = ManualClock(0.0)
    rec = Reconciler(store, executor, clock, ReconcilerConfig(run_dir=str(tmp_path / "run"), site_heartbeat_s=0.0))
    rec.step()
    running = store.get_job(job.id)
    assert running is not None and running.state == JobState.RUNNING
    clock.set(1000.0)
    deadline = time.monotonic() + 60
    while store.get_job(job.id).state == JobState.RUNNING:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        rec.step()
        time.sleep(0.3)
    assert store.get_job(job.id).state == JobState.SUCCEEDED  # type: ignore[union-attr]
    (row,) = store.usage_rows()
    assert row["device_s_source"] == "engine" and 4.0 <= row["device_s"] <= 12.0, row
    if slurm_cluster.accounting:  # the very number sacct reports: ElapsedRaw x the 2 GPUs of AllocTRES
        assert running.handle is not None
        acct = _sacct(slurm_cluster, running.handle)
        assert row["device_s"] == int(acct["elapsed_s"]) * tres_count(acct["tres"], "gpu"), (row, acct)  # type: ignore[operator]
    from cpnet.api.app import Services
    from cpnet.api.routers.usage import usage
    from cpnet.control.store.store import Principal
    from cpnet.control.throughput import ControlThroughput

    served = usage(Services(store, clock, tmp_path, frozenset(), ControlThroughput(None)), Principal(None, True), None)
    cell = served["tenants"]["t"]["A100"]  # what GET /v1/usage and `cpnet usage` show
    assert (cell["device_s"], cell["device_s_source"]) == (row["device_s"], "engine")
    assert (workdir / "env.txt").read_text().split() == ["generic", "42.0", str(workdir), str(workdir)]
    store.close()


def test_cluster_by_its_name(slurm_cluster: SlurmTestbed, tmp_path: Path) -> None:
    """`cluster`: the local one's name changes nothing; from a login node of another cluster (whose
    own controller never answers) every command carries --clusters and slurmdbd routes it: the
    inventory, a job and its accounting record all come through; a name nobody knows is one line."""
    local = SlurmExecutor(site="hpc", slurm_conf=str(slurm_cluster.conf), cluster=slurm_cluster.cluster.upper())  # Slurm's names are case-blind
    local.check()
    assert local.transport.route() == []  # type: ignore[attr-defined]
    if not slurm_cluster.accounting:
        pytest.skip("routing to another cluster needs slurmdbd")
    elsewhere = slurm_cluster.remote_conf("elsewhere")
    with pytest.raises(CpnetError, match="the cluster does not answer sinfo"):
        SlurmExecutor(slurm_conf=str(elsewhere)).check()  # its own cluster is down: without routing, nothing answers
    ex = make_executor(
        "slurm",
        site="hpc",
        partitions={"A100": slurm_cluster.partition},
        gres={"A100": "gpu:fake"},
        slurm_conf=str(elsewhere),
        cluster=slurm_cluster.cluster,
        script_dir=str(tmp_path / "scripts"),
    )
    assert isinstance(ex, SlurmExecutor)
    ex.check()
    assert ex.transport.route() == [f"--clusters={slurm_cluster.cluster}"]  # type: ignore[attr-defined]
    assert ex.inventory() == {"hpc": {"A100": 4}}
    req = _request(tmp_path, "routed", 1, 'echo "at $SLURM_CLUSTER_NAME"')
    handle = ex.launch(req)
    end = _wait(ex, "routed")
    assert (end.status, end.exit_code) == (RunStatus.SUCCEEDED, 0) and end.reason.endswith("(sacct)"), end  # sacct asked the routed cluster
    assert Path(req.log_path).read_text().strip() == f"at {slurm_cluster.cluster}"
    assert _sacct(slurm_cluster, handle)["state"] == "COMPLETED"
    with pytest.raises(CpnetError) as err:
        SlurmExecutor(slurm_conf=str(elsewhere), cluster="nosuch").check()
    assert str(err.value).startswith("Slurm cluster 'nosuch' is not known here (this slurm.conf is cluster 'elsewhere', and no slurmdbd routes to 'nosuch'")
    assert "\n" not in str(err.value)
