"""Array submission: POST /v1/jobs:batch and `cpnet job submit --array`, against a real `cpnet serve`
on SQLite and PostgreSQL (simulated executor, no reconciler; the queued-job limit at 2,000), and one
run on the local executor where each job's process reads its CPNET_ARRAY_INDEX.

One request makes every job of the batch in one transaction, or none: a bad element refuses the
whole batch naming its index, as do the bounds (10,000 jobs, the tenant's limit); the same key and
body again answers the same jobs, the same key with another body 409."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from live_server import CPNET, Server, database_for, free_port, wait_for

LIMIT = 2000  # the servers' --max-queued-jobs


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp(f"array-{request.param}")
    port = free_port()
    s = Server(f"http://127.0.0.1:{port}", database_for(request, request.param, data), data, port)
    s.start("--executor", "simulated", "--no-reconcile", "--max-queued-jobs", str(LIMIT))
    yield s
    s.stop()


def batch(c: httpx.Client, body: dict[str, Any] | str) -> httpx.Response:
    if isinstance(body, str):
        return c.post("/v1/jobs:batch", content=body, headers={"Content-Type": "application/json"})
    return c.post("/v1/jobs:batch", json=body)


def jobs_of(c: httpx.Client) -> list[dict[str, Any]]:
    """The caller's jobs, oldest first (every page)."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = c.get("/v1/jobs", params={"after": after, "limit": 1000}).json()
        out += page["jobs"]
        if page["next"] is None:
            return out
        after = page["next"]


def cli(srv: Server, token: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CPNET_URL": srv.url, "CPNET_TOKEN": token, "CPNET_CONFIG": "/nonexistent/cpnet.yaml"}
    return subprocess.run([*CPNET, *args], capture_output=True, text=True, env=env, timeout=60, cwd=cwd)


def test_an_array_of_1000_is_one_request_with_each_index(srv: Server) -> None:
    with srv.client(srv.tenant("thousand")) as c:
        r = batch(c, {"spec": {"command": ["train", "--fold"], "name": "fold", "env": {"EPOCHS": "3"}}, "array": "1-1000", "idempotency_key": "k"})
        assert r.status_code == 201, r.text
        out = r.json()
        assert out["count"] == 1000 and len(set(out["ids"])) == 1000 and out["batch_id"].startswith("b-")
        listed = jobs_of(c)
        assert [j["id"] for j in listed] == out["ids"]  # queued in index order
        assert [j["name"] for j in listed] == [f"fold_{i}" for i in range(1, 1001)]
        assert [j["idempotency_key"] for j in listed] == [f"k#{i}" for i in range(1, 1001)]
        assert {j["state"] for j in listed} == {"pending"}
        job = c.get(f"/v1/jobs/{out['ids'][499]}").json()
        assert job["env"] == {"EPOCHS": "3", "CPNET_ARRAY_INDEX": "500", "CPNET_ARRAY_JOB_ID": out["batch_id"]}
        assert (job["array_index"], job["batch_id"], job["command"]) == (500, out["batch_id"], ["train", "--fold"])

        # Slurm's other forms: a step, a list, overlaps merged; no name: <batch id>_<index>.
        r = batch(c, {"spec": {"command": ["x"]}, "array": "0-15:4,20,30-31,31"})
        assert r.status_code == 201, r.text
        names = [c.get(f"/v1/jobs/{i}").json()["name"] for i in r.json()["ids"]]
        assert names == [f"{r.json()['batch_id']}_{i}" for i in (0, 4, 8, 12, 20, 30, 31)]


def test_a_list_of_jobs_keeps_each_spec_and_its_position(srv: Server) -> None:
    with srv.client(srv.tenant("listed")) as c:
        r = batch(c, {"jobs": [{"command": ["a"], "name": "first"}, {"command": ["b"], "devices": 2}, {"command": ["c"], "checkpoint": True}]})
        assert r.status_code == 201, r.text
        jobs = [c.get(f"/v1/jobs/{i}").json() for i in r.json()["ids"]]
        assert [(j["name"], j["command"], j["devices"], j["array_index"]) for j in jobs] == [("first", ["a"], 1, 0), (None, ["b"], 2, 1), (None, ["c"], 1, 2)]
        assert jobs[2]["env"] == {"CPNET_CHECKPOINT": "1", "CPNET_ARRAY_INDEX": "2", "CPNET_ARRAY_JOB_ID": r.json()["batch_id"]}


def test_the_same_key_and_body_returns_the_same_jobs_and_another_body_is_409(srv: Server) -> None:
    with srv.client(srv.tenant("retry")) as c:
        body = {"spec": {"command": ["sim", "--seed"], "name": "seed"}, "array": "1-50", "idempotency_key": "nightly"}
        first = batch(c, body)
        assert first.status_code == 201, first.text
        again = batch(c, body)
        assert again.status_code == 200 and again.json() == first.json()
        # The same content written otherwise (key order, spacing, the same indices spelled differently) is the same batch.
        same = '{"idempotency_key": "nightly", "array": "1-25,26-50",  "spec": {"name": "seed", "command": ["sim", "--seed"]}}'
        assert batch(c, same).json() == first.json()
        for other in ({**body, "spec": {"command": ["sim", "--other"]}}, {**body, "array": "1-60"}, {**body, "array": "40-60"}):
            r = batch(c, other)
            assert r.status_code == 409, r.text
            assert "'nightly' was used before" in r.json()["error"] and r.json()["batch_id"] == first.json()["batch_id"]
        # A single job's key is not a batch's.
        assert c.post("/v1/jobs", json={"command": ["one"], "idempotency_key": "solo#1"}).status_code == 201
        r = batch(c, {"spec": {"command": ["x"]}, "array": "1-3", "idempotency_key": "solo"})
        assert r.status_code == 409 and "a job submitted on its own" in r.json()["error"]
        assert len(jobs_of(c)) == 51


BAD_ELEMENTS = [
    ({"command": ["x"], "devices": 0}, "jobs[17].devices"),
    ({"command": ["x"], "accelerator": "NoSuchGPU"}, "jobs[17].accelerator: unknown accelerator 'NoSuchGPU'"),
    ({"command": ["x"], "env": {"CPNET_ARRAY_INDEX": "3"}}, "jobs[17].env: variables starting with CPNET_ are set by cpnet"),
    ({"command": []}, "jobs[17].command"),
    ({"command": ["x"], "idempotency_key": "own"}, "jobs[17].idempotency_key: a job of a batch has no key of its own"),
    ({"command": ["x"], "unexpected": 1}, "jobs[17].unexpected"),
]


@pytest.mark.parametrize(("bad", "named"), BAD_ELEMENTS)
def test_a_bad_element_refuses_the_whole_batch_naming_its_index(srv: Server, bad: dict[str, Any], named: str) -> None:
    with srv.client(srv.tenant(f"bad-{BAD_ELEMENTS.index((bad, named))}")) as c:
        jobs: list[dict[str, Any]] = [{"command": ["ok", str(i)]} for i in range(40)]
        jobs[17] = bad
        r = batch(c, {"jobs": jobs})
        assert r.status_code == 422, r.text
        assert r.json()["error"].startswith(named), r.json()["error"]
        assert r.json()["detail"][0]["loc"][:3] == ["body", "jobs", 17]
        assert jobs_of(c) == []


def test_a_bad_array_spec_or_index_list_is_refused_naming_it(srv: Server) -> None:
    with srv.client(srv.tenant("badarray")) as c:
        for body, named in (
            ({"spec": {"command": ["x"], "devices": 0}, "array": "1-5"}, "spec.devices: "),
            ({"spec": {"command": ["x"], "name": "n" * 124}, "array": "1-10000"}, "spec.name: each array job is named <name>_<index>, at most 128 characters"),
            ({"spec": {"command": ["x"]}, "array": "1-8%2"}, "array: '%2' (Slurm's limit on how many array jobs run at once) is not supported"),
            ({"spec": {"command": ["x"]}, "array": "9-3"}, "array: '9-3': the range ends before it starts"),
            ({"spec": {"command": ["x"]}, "array": "1-4:0"}, "array: '1-4:0': the step must be at least 1"),
            ({"spec": {"command": ["x"]}, "array": "a-b"}, "array: 'a-b' is not an index"),
            ({"spec": {"command": ["x"]}}, "array: missing"),
            ({"array": "1-3"}, "spec: missing"),
            ({"spec": {"command": ["x"]}, "array": "1", "jobs": [{"command": ["x"]}]}, "jobs: give either jobs"),
        ):
            r = batch(c, body)
            assert r.status_code == 422, r.text
            assert r.json()["error"].startswith(named), r.json()["error"]
        assert jobs_of(c) == []


def test_over_the_bounds_is_refused_and_the_tenant_limit_counts_the_whole_batch(srv: Server) -> None:
    with srv.client(srv.tenant("bounds")) as c:
        r = batch(c, {"spec": {"command": ["x"]}, "array": "1-10001"})
        assert r.status_code == 422 and "more than 10000 indices, the most one batch may have" in r.json()["error"]
        r = batch(c, {"jobs": [{"command": ["x"]}] * 10_001})
        assert r.status_code == 422 and r.json()["error"].startswith("jobs: 10001 jobs, more than the 10000 one batch may have"), r.json()["error"]
        r = batch(c, {"spec": {"command": ["x"]}, "array": f"1-{LIMIT + 1}"})
        assert r.status_code == 422 and f"more than tenant 'bounds' may have pending, scheduled or running ({LIMIT})" in r.json()["error"]
        assert jobs_of(c) == []

        assert c.post("/v1/jobs", json={"command": ["one"]}).status_code == 201  # the single-job path now keeps a count for the tenant
        assert batch(c, {"spec": {"command": ["x"]}, "array": "1-1500"}).status_code == 201
        r = batch(c, {"spec": {"command": ["x"]}, "array": "1-600"})
        assert r.status_code == 429, r.text
        assert "has 1501 of its 2000" in r.json()["error"] and "submit at most 499" in r.json()["error"] and "Retry-After" in r.headers
        assert len(jobs_of(c)) == 1501
        assert batch(c, {"spec": {"command": ["x"]}, "array": "1-499"}).status_code == 201
        # Full: a single job is refused too (its count is taken again after a batch).
        assert c.post("/v1/jobs", json={"command": ["one more"]}).status_code == 429
        assert len(jobs_of(c)) == LIMIT


def test_cli_submit_array(srv: Server, tmp_path: Path) -> None:
    token = srv.tenant("cliarray")
    out = cli(srv, token, "job", "submit", "--array", "0-15:4", "--name", "sweep", "--idempotency-key", "sw", "--", "python", "train.py")
    assert out.returncode == 0, out.stderr
    batch_id = out.stdout.strip()
    assert batch_id.startswith("b-") and "4 jobs in batch" in out.stderr and "cpnet job list" in out.stderr
    (tmp_path / "job.yaml").write_text("name: fold\ncommand: python cv.py\ndevices: 2\n")
    ok = cli(srv, token, "job", "submit", "-f", "job.yaml", "--array", "1-3", "--json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["count"] == 3
    with srv.client(token) as c:
        jobs = jobs_of(c)
    assert [j["name"] for j in jobs] == ["sweep_0", "sweep_4", "sweep_8", "sweep_12", "fold_1", "fold_2", "fold_3"]


def test_cli_submit_array_retry_and_errors(srv: Server, tmp_path: Path) -> None:
    token = srv.tenant("clierrors")
    with srv.client(token) as c:  # what the CLI sends for these flags
        first = batch(c, {"spec": {"command": ["true"]}, "array": "1-2", "idempotency_key": "again"}).json()
    again = cli(srv, token, "job", "submit", "--array", "1-2", "--idempotency-key", "again", "--", "true")
    assert again.returncode == 0 and again.stdout.strip() == first["batch_id"] and "submitted before" in again.stderr, again.stderr
    (tmp_path / "job.yaml").write_text("name: fold\ncommand: python cv.py\ndevices: 2\naccelerator: NoSuchGPU\n")
    for argv, message in (
        (("-f", "job.yaml", "--array", "1-3"), "job.yaml, line 4, field 'accelerator': unknown accelerator 'NoSuchGPU'"),
        (("--array", "1-4%2", "--", "true"), "--array: '%2' (Slurm's limit on how many array jobs run at once) is not supported; drop it"),
        (("--array", "1-3", "--devices", "0", "--", "true"), "devices: must be greater than or equal to 1"),
    ):
        out = cli(srv, token, "job", "submit", *argv, cwd=tmp_path)
        assert out.returncode == 2 and out.stdout == "" and message in out.stderr and out.stderr.strip().count("\n") == 0, out.stderr


def test_each_array_job_runs_with_its_index(make_server: Callable[[str], Server], shared_dir: Path) -> None:
    srv = make_server("sqlite")
    srv.start()  # the local executor: real processes
    with srv.client(srv.tenant("runs")) as c:
        script = f'echo "$CPNET_ARRAY_INDEX $CPNET_ARRAY_JOB_ID" > {shared_dir}/out.$CPNET_ARRAY_INDEX'
        r = batch(c, {"spec": {"command": ["sh", "-c", script]}, "array": "0-2"})
        assert r.status_code == 201, r.text
        batch_id = r.json()["batch_id"]
        files = [shared_dir / f"out.{i}" for i in range(3)]
        wait_for(lambda: all(f.exists() and f.read_text().endswith("\n") for f in files), "every array job to write its index", timeout_s=30)
        assert [f.read_text() for f in files] == [f"{i} {batch_id}\n" for i in range(3)]
