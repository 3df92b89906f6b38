"""`cpnet serve --sites sites.yaml`: one server drives a local site, a real Slurm cluster (through its
commands, by its cluster name, and through slurmrestd) and a real Ray cluster at once; a bad file, a
missing engine, an unreachable address or an unknown Slurm cluster is one line at start, before the
banner; `--executor ray` never starts a private Ray."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cpnet.core.errors import InputError
from cpnet.executors.sites import load_sites_file
from cpnet.executors.slurm_testbed import SlurmTestbed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))  # the API tests' live_server module
from live_server import CPNET, Server, free_port


def serve(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """A `cpnet serve` that is expected to refuse to start."""
    return subprocess.run([*CPNET, "serve", "--port", str(free_port()), *args], capture_output=True, text=True, timeout=timeout_s, env=env)


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert "control plane on" not in out.stderr and "Traceback" not in out.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("sites:\n  - id: a\n    engine: kubernetes\n", ", line 3, field 'sites[0].engine'", "engine must be one of: local, ray, slurm"),
        ("sites:\n  - id: a\n    engine: ray\n", ", line 2, field 'sites[0].address'", "missing required field 'address'"),
        ("sites:\n  - id: a\n    engine: local\n    partitions: {A100: p}\n", ", line 4, field 'sites[0].partitions'", "unknown field 'partitions'"),
        ("sites:\n  - id: a\n    engine: local\n  - id: a\n    engine: slurm\n", ", line 4, field 'sites[1].id'", "declared twice"),
        ("sites:\n  - {id: a, engine: ray, address: 'h1:1'}\n  - {id: b, engine: ray, address: 'h2:1'}\n", "", "one server joins one Ray cluster"),
    ],
)
def test_a_bad_sites_file_names_file_line_and_field(tmp_path: Path, text: str, where: str, problem: str) -> None:
    path = tmp_path / "sites.yaml"
    path.write_text(text)
    line = one_line(serve("--sites", str(path), "--data-dir", str(tmp_path / "d")))
    assert f"{path}{where}" in line and problem in line, line


@pytest.mark.parametrize(
    ("entry", "where", "problem"),
    [
        (
            "slurmrestd: unix:/run/slurmrestd.socket\n    slurm_conf: /etc/slurm/slurm.conf",
            "line 2, field 'sites[0]'",
            "slurm_conf applies to Slurm's commands",
        ),
        ("slurmrestd: ''", "line 4, field 'sites[0].slurmrestd'", "at least 1 character"),
        ("cluster: 'two words'", "line 4, field 'sites[0].cluster'", "should match pattern"),
    ],
)
def test_slurm_site_fields(tmp_path: Path, entry: str, where: str, problem: str) -> None:
    path = tmp_path / "sites.yaml"
    path.write_text(f"sites:\n  - id: hpc\n    engine: slurm\n    {entry}\n")
    with pytest.raises(InputError) as err:
        load_sites_file(str(path))
    assert f"{path}, {where}: " in str(err.value) and problem in str(err.value), err.value
    path.write_text("sites:\n  - id: hpc\n    engine: slurm\n    cluster: hpc1\n    slurmrestd: http://login:6820\n    partitions: {A100: gpu}\n")
    (site,) = load_sites_file(str(path))
    assert (site.cluster, site.slurmrestd) == ("hpc1", "http://login:6820")  # type: ignore[union-attr]


def test_unreachable_engines_are_one_line_before_the_banner(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        (tmp_path / "ray.yaml").write_text(f"sites:\n  - id: edge\n    engine: ray\n    address: ray://127.0.0.1:{port}\n")
        line = one_line(serve("--sites", str(tmp_path / "ray.yaml"), "--data-dir", str(tmp_path / "d")))
    assert f"site 'edge' (engine ray): no Ray cluster answers at ray://127.0.0.1:{port}" in line

    empty = tmp_path / "no-slurm-here"
    empty.mkdir()
    (tmp_path / "slurm.yaml").write_text(f"sites:\n  - id: hpc\n    engine: slurm\n    bin_dir: {empty}\n")
    line = one_line(serve("--sites", str(tmp_path / "slurm.yaml"), "--data-dir", str(tmp_path / "d")))
    assert "site 'hpc' (engine slurm): the Slurm command sinfo is not found in" in line

    (tmp_path / "rest.yaml").write_text(f"sites:\n  - id: hpc\n    engine: slurm\n    slurmrestd: unix:{tmp_path}/slurmrestd.sock\n")
    line = one_line(serve("--sites", str(tmp_path / "rest.yaml"), "--data-dir", str(tmp_path / "d")))
    assert line.endswith(f"site 'hpc' (engine slurm): no slurmrestd answers at unix:{tmp_path}/slurmrestd.sock (No such file or directory)"), line

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    line = one_line(serve("--executor", "ray", "--data-dir", str(tmp_path / "d"), env=env, timeout_s=120))
    assert "never starts a private Ray" in line


@pytest.mark.slurm
@pytest.mark.timeout(120)
def test_an_unknown_slurm_cluster_is_one_line(slurm_cluster: SlurmTestbed, tmp_path: Path) -> None:
    (tmp_path / "sites.yaml").write_text(f"sites:\n  - id: hpc\n    engine: slurm\n    cluster: foo\n    slurm_conf: {slurm_cluster.conf}\n")
    line = one_line(serve("--sites", str(tmp_path / "sites.yaml"), "--data-dir", str(tmp_path / "d")))
    assert (
        f"site 'hpc' (engine slurm): Slurm cluster 'foo' is not known here (this slurm.conf is cluster '{slurm_cluster.cluster}', and no slurmdbd routes to 'foo'"
        in line
    ), line


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    ray = pytest.importorskip("ray", reason="Ray is installed by the `engines` extra")
    from ray.cluster_utils import Cluster

    node = dict(num_cpus=1, object_store_memory=80 * 2**20, node_ip_address="127.0.0.1")
    c = Cluster(initialize_head=True, head_node_args=dict(node, include_dashboard=False))
    c.add_node(**node, resources={"cpnet_site:edge": 1, "cpnet_accel:T4": 1})
    c.wait_for_nodes()
    try:
        yield str(c.address)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


@pytest.mark.slurm
@pytest.mark.ray
@pytest.mark.timeout(300)
def test_one_server_drives_local_slurm_and_ray_sites(
    slurm_cluster: SlurmTestbed, slurmrestd: str, ray_cluster: str, tmp_path: Path, reachable_tmp: Path
) -> None:
    sites = tmp_path / "sites.yaml"
    sites.write_text(
        f"""sites:
  - id: here
    engine: local
    tier: device
  - id: edge
    engine: ray
    address: {ray_cluster}
    tier: edge
    region: Yangtze River Delta
    lat: 31.2
    lon: 121.5
  - id: hpc
    engine: slurm
    cluster: {slurm_cluster.cluster}
    partitions: {{A100: {slurm_cluster.partition}}}
    gres: {{A100: "gpu:fake"}}
    slurm_conf: {slurm_cluster.conf}
  - id: hpc-rest
    engine: slurm
    slurmrestd: {slurmrestd}
    cluster: {slurm_cluster.cluster}
    partitions: {{H100: {slurm_cluster.partition}}}
    gres: {{H100: "gpu:fake"}}
"""
    )
    data = tmp_path / "srv"
    data.mkdir()
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", f"sqlite:///{data / 'cpnet.db'}", data, port, job_root=Path(tempfile.mkdtemp(dir=reachable_tmp)))
    srv.start("--sites", str(sites))
    try:
        token = srv.tenant("multi")
        with srv.client(token) as c:

            def sites_now() -> dict[str, Any]:
                return {s["id"]: s for s in c.get("/v1/sites").json()["sites"]}

            deadline = time.monotonic() + 60
            while not all(sites_now().get(s, {}).get("state") == "up" for s in ("here", "edge", "hpc", "hpc-rest")):
                assert time.monotonic() < deadline, sites_now()
                time.sleep(0.2)
            now = sites_now()
            assert now["edge"]["tier"] == "edge" and now["edge"]["lat"] == 31.2 and now["here"]["tier"] == "device"
            assert now["edge"]["inventory"] == {"T4": 1} and now["hpc"]["inventory"].get("A100", 0) >= 1 and "CPU" in now["here"]["inventory"]
            assert now["hpc-rest"]["inventory"].get("H100", 0) >= 1
            jobs = {
                site: c.post("/v1/jobs", json={"command": ["sh", "-c", f"echo ran-at-{site}"], "accelerator": model, "sites": [site]}).json()["id"]
                for site, model in (("here", "CPU"), ("edge", "T4"), ("hpc", "A100"), ("hpc-rest", "H100"))
            }
            deadline = time.monotonic() + 120
            while True:
                states = {site: c.get(f"/v1/jobs/{j}").json() for site, j in jobs.items()}
                if all(s["state"] in ("succeeded", "failed") for s in states.values()):
                    break
                assert time.monotonic() < deadline, states
                time.sleep(0.5)
            for site, j in jobs.items():
                assert states[site]["state"] == "succeeded" and states[site]["placement"]["site"] == site, states[site]
                assert f"ran-at-{site}" in c.get(f"/v1/jobs/{j}/logs").text
    finally:
        srv.stop()
