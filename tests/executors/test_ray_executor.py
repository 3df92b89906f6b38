"""The Ray executor on a real local multi-node Ray cluster (ray.cluster_utils.Cluster, 127.0.0.1).

Layout: a head (no site; GCS + dashboard, which serves Ray's task timing), site `a` = one node
with one A100, site `b` = two nodes with one T4 each. Every node gets TEST_NODE=<name> in its
environment, so a job can say where it ran without trusting cpnet's own variables.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="Ray is installed by the `engines` extra: pip install -e '.[engines]'")
from ray.cluster_utils import Cluster  # noqa: E402

from cpnet.core.snapshot import Placement  # noqa: E402
from cpnet.executors.base import LaunchRequest, Observation, RunStatus  # noqa: E402
from cpnet.executors.registry import make_executor  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]

EXAMPLE_JOB = Path(__file__).resolve().parents[2] / "examples" / "checkpointing_job.py"
STORE_MB = 80 * 2**20


def _node_args(name: str, resources: dict[str, float]) -> dict[str, Any]:
    return dict(num_cpus=1, resources=resources, object_store_memory=STORE_MB, node_ip_address="127.0.0.1", env_vars={"TEST_NODE": name})


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, Any]]:
    head = dict(_node_args("head", {}), include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=None)
    c = Cluster(initialize_head=True, head_node_args=head)
    nodes = {
        "a1": c.add_node(**_node_args("a1", {"cpnet_site:a": 1, "cpnet_accel:A100": 1})),
        "b1": c.add_node(**_node_args("b1", {"cpnet_site:b": 1, "cpnet_accel:T4": 1})),
        "b2": c.add_node(**_node_args("b2", {"cpnet_site:b": 1, "cpnet_accel:T4": 1})),
    }
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False, logging_level="WARNING")
    try:
        yield {"cluster": c, "nodes": nodes}
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def executor(cluster: dict[str, Any]) -> Any:
    return make_executor("ray", gang_timeout_s=20.0, timing_wait_s=5.0)


def _request(tmp: Path, job_id: str, site: str, model: str, n: int, command: list[str], attempt: int = 1) -> LaunchRequest:
    return LaunchRequest(
        job_id, attempt, Placement(job_id, site, model, n), command, {"EXTRA": "x"}, str(tmp / "logs" / f"{job_id}.log"), str(tmp / "ckpt" / job_id)
    )


def _wait_end(ex: Any, job_id: str, timeout_s: float = 60.0) -> Observation:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        obs = {o.job_id: o for o in ex.observe()}
        if obs[job_id].status is not RunStatus.RUNNING:
            return obs[job_id]
        time.sleep(0.2)
    raise AssertionError(f"{job_id} still running after {timeout_s} s")


REPORT = [
    sys.executable,
    "-c",
    (
        "import os, time; time.sleep(1.0); "
        "open(os.path.join(os.environ['OUT'], os.environ['CPNET_RANK']), 'w').write("
        "' '.join(os.environ.get(k, '-') for k in ('TEST_NODE', 'CPNET_NODE_ID', 'CPNET_SITE', 'CPNET_ACCELERATOR', "
        "'CPNET_DEVICES', 'CPNET_WORLD_SIZE', 'CPNET_JOB_ID', 'EXTRA', 'CPNET_CHECKPOINT_DIR')))"
    ),
]


def _reports(out: Path) -> dict[int, list[str]]:
    return {int(p.name): p.read_text().split() for p in out.iterdir()}


def test_inventory_discovers_sites_from_node_resources(executor: Any) -> None:
    assert executor.inventory() == {"a": {"A100": 1}, "b": {"T4": 2}}


@pytest.mark.parametrize(("site", "model", "nodes"), [("a", "A100", {"a1"}), ("b", "T4", {"b1", "b2"})])
def test_job_runs_on_the_chosen_sites_node(executor: Any, tmp_path: Path, site: str, model: str, nodes: set[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    req = _request(tmp_path, f"one-{site}", site, model, 1, ["/usr/bin/env", f"OUT={out}", *REPORT])
    executor.launch(req)
    end = _wait_end(executor, req.job_id)
    assert end.status is RunStatus.SUCCEEDED, end
    (rank0,) = _reports(out).values()
    test_node, node_id, *rest = rank0
    assert test_node in nodes
    assert rest == [site, model, "1", "1", req.job_id, "x", req.checkpoint_dir]
    alive = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
    assert f"cpnet_site:{site}" in alive[node_id]
    # Ray's own task timing: the job sleeps 1 s, so its single device was held for at least that.
    assert end.device_s is not None and 1.0 <= end.device_s < 10.0
    executor.forget(req.job_id)


def test_gang_of_two_spans_its_bundles(executor: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    req = _request(tmp_path, "gang", "b", "T4", 2, ["/usr/bin/env", f"OUT={out}", *REPORT])
    executor.launch(req)
    end = _wait_end(executor, req.job_id)
    assert end.status is RunStatus.SUCCEEDED, end
    ranks = _reports(out)
    assert sorted(ranks) == [0, 1]
    assert {r[0] for r in ranks.values()} == {"b1", "b2"}  # one device per node: the bundles span both
    assert all(r[5] == "2" for r in ranks.values())  # CPNET_WORLD_SIZE
    assert end.device_s is not None and 2.0 <= end.device_s < 20.0  # two ranks x >= 1 s each
    executor.forget(req.job_id)


def test_gang_larger_than_the_site_is_lost_after_the_timeout(cluster: dict[str, Any], tmp_path: Path) -> None:
    ex = make_executor("ray", gang_timeout_s=1.5)
    req = _request(tmp_path, "too-big", "b", "T4", 3, ["true"])
    ex.launch(req)
    end = _wait_end(ex, req.job_id, 20)
    assert end.status is RunStatus.LOST and "could not reserve 3 x T4" in end.reason


def test_failing_job_reports_its_exit_code(executor: Any, tmp_path: Path) -> None:
    req = _request(tmp_path, "fails", "a", "A100", 1, ["sh", "-c", "echo oops; exit 3"])
    executor.launch(req)
    end = _wait_end(executor, req.job_id)
    assert (end.status, end.exit_code) == (RunStatus.FAILED, 3)
    assert "oops" in Path(req.log_path).read_text()
    executor.forget(req.job_id)


def test_cancel_stops_the_process(executor: Any, tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    req = _request(tmp_path, "cancel-me", "a", "A100", 1, ["sh", "-c", f"sleep 1; while true; do date > {marker}; sleep 0.2; done"])
    executor.launch(req)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        executor.observe()
        time.sleep(0.2)
    assert marker.exists()
    executor.cancel(req.job_id, "")
    executor.cancel(req.job_id, "")  # idempotent
    end = _wait_end(executor, req.job_id)
    assert end.status is RunStatus.CANCELLED
    stamp = marker.read_text()
    time.sleep(0.6)
    assert marker.read_text() == stamp  # the subprocess is gone, not just the Ray task
    executor.forget(req.job_id)


def _control_plane(tmp_path: Path, executor: Any, clock: Any, **config: Any) -> tuple[Any, Any]:
    from cpnet.control.reconciler import Reconciler, ReconcilerConfig
    from cpnet.control.store.store import Store

    store = Store(f"sqlite:///{tmp_path / 'cpnet.db'}")
    store.migrate()
    store.create_tenant("t", 1.0, clock.now())
    return store, Reconciler(store, executor, clock, ReconcilerConfig(run_dir=str(tmp_path / "run"), site_heartbeat_s=0.0, **config))


def test_reconciler_meters_what_ray_timed(executor: Any, tmp_path: Path) -> None:
    """Through the real reconciler on a manual clock that jumps 1000 s while the job runs: the
    usage row holds Ray's task timing (about 1 s), not the reconciler's 1000 device-seconds, and
    the job sees the variables the reconciler sets (type, steps, working directory)."""
    from cpnet.control.loop import ManualClock
    from cpnet.core.states import JobState

    clock = ManualClock(0.0)
    store, rec = _control_plane(tmp_path, executor, clock)
    workdir = tmp_path / "wd"
    script = 'echo "$CPNET_JOB_TYPE $CPNET_TOTAL_STEPS $CPNET_WORKDIR $PWD" > env.txt; sleep 1'
    spec = {"command": ["sh", "-c", script], "accelerator": "A100", "total_steps": 42, "workdir": str(workdir)}
    job, _ = store.submit_job("t", "metered", spec, 0.0)
    rec.step()
    assert store.get_job(job.id).state == JobState.RUNNING
    clock.set(1000.0)
    deadline = time.monotonic() + 60
    while store.get_job(job.id).state == JobState.RUNNING:
        assert time.monotonic() < deadline
        rec.step()
        time.sleep(0.2)
    assert store.get_job(job.id).state == JobState.SUCCEEDED, store.job_events(job.id)
    (row,) = store.usage_rows()
    assert row["device_s_source"] == "engine" and 1.0 <= row["device_s"] < 10.0, row
    assert (workdir / "env.txt").read_text().split() == ["generic", "42.0", str(workdir), str(workdir)]
    store.close()


def test_killed_site_job_fails_over_to_another_site_resumed_from_its_checkpoint(cluster: dict[str, Any], executor: Any, tmp_path: Path) -> None:
    """End to end with the control plane (runs last: it kills site a's only node). Two short
    fillers hold site b's T4s, so a checkpointing job that may run anywhere starts on site a.
    Killing a's node makes the executor report LOST: the reconciler marks the attempt failed by
    infrastructure, site a goes DOWN (or is avoided until it does), and the job finishes on site
    b, resumed from its checkpoint; each attempt's device-seconds come from Ray."""
    from cpnet.control.loop import WallClock
    from cpnet.core.states import JobState

    clock = WallClock()
    store, rec = _control_plane(tmp_path, executor, clock, retry_limit=2)
    fillers = [store.submit_job("t", f"fill-{i}", {"command": ["sleep", "4"], "accelerator": "T4"}, clock.now())[0] for i in range(2)]
    spec = {"command": [sys.executable, str(EXAMPLE_JOB), "30", "0.2"], "devices": 1}
    job, _ = store.submit_job("t", "ckpt-1", spec, clock.now())
    ckpt = tmp_path / "run" / "checkpoints" / job.id
    log = tmp_path / "run" / "logs" / f"{job.id}.log"

    def step_until(done: Any, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, store.job_events(job.id)
            rec.step()
            time.sleep(0.3)

    rec.step()
    assert [store.get_job(f.id).site for f in fillers] == ["b", "b"] and store.get_job(job.id).site == "a"
    step_until(lambda: len(list(ckpt.glob("step-*.json"))) >= 1 and int(sorted(ckpt.glob("step-*.json"))[-1].stem[5:]) >= 5, 60)
    first_node = log.read_text().split("on node ")[1].split(":")[0]
    assert cluster["nodes"]["a1"].node_id.startswith(first_node)
    cluster["cluster"].remove_node(cluster["nodes"]["a1"], allow_graceful=False)
    step_until(lambda: store.get_job(job.id).state == JobState.SUCCEEDED, 90)

    final = store.get_job(job.id)
    assert final is not None and (final.attempt, final.lost_count, final.site, final.accelerator) == (2, 1, "b", "T4")
    lost = [e for e in store.job_events(job.id) if e["kind"] == "lost"]
    assert len(lost) == 1 and "failed by infrastructure at a" in lost[0]["message"]
    lines = log.read_text().splitlines()
    second = [ln for ln in lines if ln.startswith("attempt 2 on node ")]
    assert len(second) == 1
    resumed_at = int(second[0].rsplit(" ", 1)[1])
    assert resumed_at >= 5  # not from scratch: at most the work since the last checkpoint is lost
    b_nodes = {cluster["nodes"][n].node_id[:12] for n in ("b1", "b2")}
    assert second[0].split("on node ")[1].split(":")[0] in b_nodes  # on site b's nodes
    assert lines[-1].startswith("done on node ") and "step 30 " in lines[-1]
    rows = {r["attempt"]: r for r in store.usage_rows() if r["job_id"] == job.id}
    assert (rows[1]["site"], rows[2]["site"]) == ("a", "b")
    assert rows[2]["device_s_source"] == "engine" and 2.0 <= rows[2]["device_s"] < 30.0
    deadline = time.monotonic() + 30
    while store.get_site("a").state.value != "down":  # a dead site's devices are gone
        assert time.monotonic() < deadline, (executor.inventory(), store.list_sites(), [(n["NodeID"][:8], n["Alive"], n["Resources"]) for n in ray.nodes()])
        rec.step()
        time.sleep(0.3)
    store.close()
