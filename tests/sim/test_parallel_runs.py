"""`cpnet simulate` runs in worker processes and on a real local Ray cluster give the serial run's results,
byte for byte; repeated --seed runs every policy per seed; a dead --ray address is one line; Ctrl-C stops the workers."""

from __future__ import annotations

import os

# Ray treats 127.0.0.1 as "localhost" and swaps it for the host's routable IP unless multi-host cluster
# mode is off (see tests/executors/conftest.py). Read by ray at import time, and inherited by the CLI runs.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TRACE = "gavel-continuous:rate=240,jobs=60,multi_gpu=1,users=10"
POLICIES = ("fifo", "gavel-las", "convergent")
ARGS = ["--trace", TRACE, *(a for p in POLICIES for a in ("--policy", p))]
OUTPUTS = ("results.json", *(f"jobs-{p}.csv" for p in POLICIES))


def cpnet(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout_s: float = 120) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the CLI; also return its pid, to tell runs made in this process from runs made elsewhere."""
    with subprocess.Popen([sys.executable, "-m", "cpnet.cli.main", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        out, err = p.communicate(timeout=timeout_s)
        return subprocess.CompletedProcess(p.args, p.returncode, out, err), p.pid


def timing(out: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((out / "timing.json").read_text())
    return doc


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: every run one after the other in the CLI's own process."""
    out = tmp_path_factory.mktemp("serial")
    proc, pid = cpnet("simulate", *ARGS, "--jobs-parallel", "1", "--out", str(out), cwd=out)
    assert proc.returncode == 0, proc.stderr
    t = timing(out)
    assert t["engine"] == "serial" and {r["pid"] for r in t["runs"]} == {pid}
    return out


def assert_same_outputs(a: Path, b: Path) -> None:
    for name in OUTPUTS:  # results.json holds no wall-clock values: the files must be equal as bytes
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_worker_processes_give_the_serial_results(serial: Path, tmp_path: Path) -> None:
    proc, pid = cpnet("simulate", *ARGS, "--jobs-parallel", "2", "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_same_outputs(serial, tmp_path)
    t = timing(tmp_path)
    assert t["engine"] == "processes" and t["workers"] == 2
    assert [(r["policy"], r["seed"]) for r in t["runs"]] == [(p, 0) for p in POLICIES]
    assert pid not in {r["pid"] for r in t["runs"]}  # every run was made in a worker, not in the CLI's process
    assert all(r["wall_s"] > 0 and r["cpu_s"] > 0 for r in t["runs"]) and t["runs_s"] > 0 and t["total_s"] >= t["runs_s"]
    for p in POLICIES:  # one progress bar per run, each brought to its end
        assert f"{p} ━" in proc.stdout and "60/60 jobs" in proc.stdout


def test_repeated_seeds_run_every_policy_per_seed(serial: Path, tmp_path: Path) -> None:
    proc, _ = cpnet("simulate", *ARGS, "--seed", "0", "--seed", "3", "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["inputs"]["seed"] == [0, 3] and doc["inputs"]["jobs"] == 60
    runs = {(r["policy"], r["seed"]): r for r in doc["runs"]}
    assert list(runs) == [(p, s) for p in POLICIES for s in (0, 3)]
    reference = {r["policy"]: r for r in json.loads((serial / "results.json").read_text())["runs"]}
    for p in POLICIES:
        assert runs[(p, 0)] == reference[p]  # the seed-0 runs are the single-seed run's, unchanged
        assert (tmp_path / f"jobs-{p}-seed0.csv").read_bytes() == (serial / f"jobs-{p}.csv").read_bytes()
        assert (tmp_path / f"jobs-{p}-seed3.csv").is_file()
        assert f"{p} seed 3" in proc.stdout  # one table row (and bar) per run, named by policy and seed
    # Seed 3 draws other job types and tenants: the runs differ, so the seed did reach them.
    assert runs[("gavel-las", 3)]["metrics"] != runs[("gavel-las", 0)]["metrics"]
    assert "seeds 0, 3" in proc.stdout


BAD_RUN = ["--trace", TRACE, "--policy", "fifo", "--policy", "gavel-las", "--policy-param", "round_s=-5"]  # builds, fails in the run


def assert_names_the_failed_run(proc: subprocess.CompletedProcess[str]) -> None:
    line = one_line(proc)
    assert re.search(r"error: policy (fifo|gavel-las), seed 0: round_s must be > 0 s, got -5\.0$", line), line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_failed_run_is_one_line_naming_it(tmp_path: Path, workers: str) -> None:
    proc, _ = cpnet("simulate", *BAD_RUN, "--jobs-parallel", workers, "--out", str(tmp_path), cwd=tmp_path)
    assert_names_the_failed_run(proc)
    assert not (tmp_path / "results.json").exists()


def test_a_dead_ray_address_is_one_line_and_starts_no_ray(tmp_path: Path) -> None:
    ray_tmp = tmp_path / "ray-tmp"  # where a private Ray would put its session, were one started
    env = dict(os.environ, RAY_TMPDIR=str(ray_tmp))
    env.pop("RAY_ADDRESS", None)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        t0 = time.monotonic()
        proc, _ = cpnet("simulate", *ARGS, "--ray", f"127.0.0.1:{port}", "--out", str(tmp_path / "o"), cwd=tmp_path, env=env)
        took = time.monotonic() - t0
    line = one_line(proc)
    assert f"--ray 127.0.0.1:{port}: no Ray cluster answers there" in line and "never starts a private Ray" in line, line
    assert proc.stdout == "" and not (tmp_path / "o").exists()  # refused before loading or writing anything
    assert not ray_tmp.exists() and took < 30
    assert "--jobs-parallel and --ray" in one_line(cpnet("simulate", "--ray", "auto", "--jobs-parallel", "2", cwd=tmp_path, env=env)[0])
    assert "not HOST:PORT" in one_line(cpnet("simulate", "--ray", "no-port-here", cwd=tmp_path, env=env)[0])


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of `pid`'s child processes (Linux /proc)."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
    return out


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / os.sysconf("SC_CLK_TCK")  # utime


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux /proc")
def test_ctrl_c_stops_every_worker(tmp_path: Path) -> None:
    # A run long enough to interrupt; the wrapper gives the CLI Python's own SIGINT handler even when
    # this test runs where SIGINT is ignored (a background job), as Ctrl-C in a terminal would find it.
    code = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); sys.argv[0] = 'cpnet'; from cpnet.cli.main import main; main()"
    argv = ["simulate", "--trace", "gavel-continuous:rate=240,jobs=3000,multi_gpu=1,users=40", "--policy", "gavel-las", "--policy", "convergent"]
    with subprocess.Popen(
        [sys.executable, "-c", code, *argv, "--jobs-parallel", "2", "--out", str(tmp_path)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    ) as p:  # fmt: skip
        deadline = time.monotonic() + 90
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline:  # the two spawned workers (beside the resource tracker)
            workers = [pid for pid, cmd in _children(p.pid).items() if "spawn_main" in cmd]
            time.sleep(0.2)
        assert len(workers) == 2, "the workers did not start"
        while min(_cpu_s(w) for w in workers) < 2.0 and time.monotonic() < deadline:
            time.sleep(0.2)  # until both are well into their runs (past their start-up, which Ctrl-C may cut short)
        t0 = time.monotonic()
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C sends: every process of the foreground group
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
    assert p.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    assert "interrupted: every run stopped; no results written" in out
    assert not (tmp_path / "results.json").exists()
    assert took < 15
    end = time.monotonic() + 5
    while any(_running(w) for w in workers) and time.monotonic() < end:
        time.sleep(0.1)
    assert not [w for w in workers if _running(w)], "workers still running after the CLI exited"


# --- Ray ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A real local Ray head on 127.0.0.1 with 2 CPUs, shut down at the end (only its own processes:
    `ray stop --force` would end every Ray on the machine, other test sessions' included)."""
    pytest.importorskip("ray", reason="Ray is installed by the `engines` extra: pip install -e '.[engines]'")
    from ray.cluster_utils import Cluster

    head = dict(num_cpus=2, object_store_memory=100 * 2**20, node_ip_address="127.0.0.1", include_dashboard=False)
    c = Cluster(initialize_head=True, head_node_args=head)
    try:
        c.wait_for_nodes()
        yield str(c.address)
    finally:
        c.shutdown()


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_ray_tasks_give_the_serial_results(serial: Path, ray_address: str, tmp_path: Path) -> None:
    proc, pid = cpnet("simulate", *ARGS, "--ray", ray_address, "--out", str(tmp_path), cwd=tmp_path, timeout_s=180)
    assert proc.returncode == 0, proc.stderr
    assert_same_outputs(serial, tmp_path)
    t = timing(tmp_path)
    assert t["engine"] == "ray" and t["ray_address"] == ray_address
    assert pid not in {r["pid"] for r in t["runs"]}  # the runs were Ray tasks, in the cluster's workers
    assert "60/60 jobs" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_a_failed_ray_task_is_one_line_naming_it(ray_address: str, tmp_path: Path) -> None:
    proc, _ = cpnet("simulate", *BAD_RUN, "--ray", ray_address, "--out", str(tmp_path), cwd=tmp_path, timeout_s=180)
    assert_names_the_failed_run(proc)  # the task's CpnetError comes back as the same one line, not a RayTaskError
    assert not (tmp_path / "results.json").exists()


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_a_capacity_plans_sweep_on_ray_gives_the_serial_answer(ray_address: str, tmp_path: Path) -> None:
    """`cpnet plan --ray`: the replays are Ray tasks; the plan (every replay's numbers) is the serial one."""
    scenario = tmp_path / "one-site.yaml"
    scenario.write_text(
        "schema_version: 1\nname: one-site\nsites:\n  - {id: s1, tier: cloud, region: test, lat: 30.0, lon: 110.0, inventory: {V100: 8},"
        " pue: 1.2, price_usd_per_kwh: 0.1, carbon_g_per_kwh: 500.0}\ntenants:\n  - {id: default, weight: 1.0}\n"
    )
    common = ["plan", "--scenario", str(scenario), "--history", "gavel-continuous:rate=1,jobs=120,seed=3", "--horizon", "3d"]
    common += ["--target", "p90 queueing < 2h", "--models", "1", "--max-add", "512", "--max-runs", "20", "--start", "2027-01-01"]
    serial, _ = cpnet(*common, "--jobs-parallel", "1", "--out", str(tmp_path / "serial"), cwd=tmp_path, timeout_s=180)
    assert serial.returncode == 0, serial.stderr
    on_ray, _ = cpnet(*common, "--ray", ray_address, "--out", str(tmp_path / "ray"), cwd=tmp_path, timeout_s=180)
    assert on_ray.returncode == 0, on_ray.stderr
    a, b = (json.loads((tmp_path / d / "plan.json").read_text()) for d in ("serial", "ray"))
    assert a == b and a["answer"].startswith("add ") and on_ray.stdout == serial.stdout
