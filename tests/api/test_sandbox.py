"""Jobs are untrusted code: attacks a tenant's job made on the service, each of which must fail.

Run as root (as `make test` is): each tenant's jobs run as that tenant's own system user."""

from __future__ import annotations

import json
import os
import pwd
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cpnet.control.store import Store
from cpnet.control.store.store import hash_token
from cpnet.executors.sandbox import tenant_user_name
from live_server import CPNET, Server


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("these tests need root (per-tenant job users); make test runs as root")


def _wait_state(c: httpx.Client, job_id: str, states: set[str], timeout_s: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return dict(job)
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


# A job runs as its tenant's user, which may not enter /root (where this venv's interpreter may live).
JOB_PYTHON = "/usr/bin/python3"


def _run_job(c: httpx.Client, script: str, **extra: object) -> tuple[dict[str, object], str]:
    job = c.post("/v1/jobs", json={"command": [JOB_PYTHON, "-c", script], **extra}).json()
    done = _wait_state(c, str(job["id"]), {"succeeded", "failed"})
    return done, c.get(f"/v1/jobs/{job['id']}/logs").text


def test_a_job_cannot_forge_an_admin_token_read_other_logs_or_signal_other_tenants(make_server: Callable[[str], Server], shared_dir: Path) -> None:
    srv = make_server("sqlite")
    os.environ["CPNET_TEST_CANARY"] = "server-secret"  # the server's environment must not reach jobs
    try:
        srv.start()
    finally:
        del os.environ["CPNET_TEST_CANARY"]
    alice, bob = srv.client(srv.tenant("alice")), srv.client(srv.tenant("bob"))
    db_path = srv.db.removeprefix("sqlite:///")

    # Bob's job writes a secret to its log and keeps a process running.
    pid_file = shared_dir / "bob.pid"
    bob_job = bob.post("/v1/jobs", json={"command": ["sh", "-c", f"echo bob-secret; echo $$ > {pid_file}; exec sleep 60"]}).json()
    _wait_state(bob, bob_job["id"], {"running"})
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    bob_pid = int(pid_file.read_text())

    # Alice's job: the two attacks of the report, and more, each printing what it got.
    forged = "cpa_forged-by-a-job"
    attack = f"""
import os, sqlite3, signal, sys
def attempt(what, f):
    try:
        f(); print(what, "SUCCEEDED")
    except Exception as e:
        print(what, "refused:", type(e).__name__)
def forge():
    db = sqlite3.connect({db_path!r}, timeout=1)
    db.execute("insert into tokens(hash, tenant_id, admin, created_s) values (?, NULL, 1, 0)", ({hash_token(forged)!r},))
    db.commit()
attempt("forge-admin-token", forge)
attempt("read-db", lambda: open({db_path!r}, "rb").read(16))
attempt("read-bob-log", lambda: open({str(srv.data_dir / "runs" / "logs" / (bob_job["id"] + ".log"))!r}).read())
attempt("list-logs", lambda: os.listdir({str(srv.data_dir / "runs" / "logs")!r}))
attempt("list-workspaces", lambda: os.listdir({str(srv.job_root)!r}))
attempt("bob-workspace", lambda: os.listdir({str(srv.job_root / bob_job["id"])!r}))
attempt("server-environ", lambda: open("/proc/{srv.proc.pid if srv.proc else 0}/environ").read())
attempt("signal-bob", lambda: os.kill({bob_pid}, signal.SIGKILL))
print("uid", os.getuid(), "canary", os.environ.get("CPNET_TEST_CANARY"), "home", os.environ.get("HOME"))
"""
    done, log = _run_job(alice, attack)
    assert done["state"] == "succeeded", log
    results = dict(line.split(" ", 1) for line in log.splitlines() if not line.startswith("uid"))
    assert results["forge-admin-token"] == "refused: OperationalError", log  # sqlite3: unable to open database file
    for what in ("read-db", "read-bob-log", "list-logs", "list-workspaces", "bob-workspace", "server-environ", "signal-bob"):
        assert results[what] == "refused: PermissionError", (what, log)
    uid_line = next(line for line in log.splitlines() if line.startswith("uid")).split()
    assert int(uid_line[1]) == pwd.getpwnam(tenant_user_name("alice")).pw_uid != 0
    assert uid_line[3] == "None"  # the server's environment did not leak
    assert uid_line[5] == str(srv.job_root / done["id"])  # HOME is the private workspace

    # The forged token does not exist, Bob's job still runs, and the files are the server's alone.
    r = httpx.get(f"{srv.url}/v1/whoami", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    assert bob.get(f"/v1/jobs/{bob_job['id']}").json()["state"] == "running"
    for path, mode in (
        (Path(db_path), 0o600),
        (srv.data_dir / "runs", 0o700),
        (srv.data_dir / "runs" / "logs" / f"{bob_job['id']}.log", 0o600),
        (srv.job_root / bob_job["id"], 0o700),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert (srv.job_root / bob_job["id"]).stat().st_uid == pwd.getpwnam(tenant_user_name("bob")).pw_uid
    bob.post(f"/v1/jobs/{bob_job['id']}/cancel")


def test_restart_after_a_job_ended_in_the_scheduled_window_does_not_kill_the_server(make_server: Callable[[str], Server]) -> None:
    """The server died after the job's process started but before RUNNING was committed, and the
    job ended before the restart: the restarted server must record the job's result, not signal
    pid 0 (its own process group)."""
    srv = make_server("sqlite")
    srv.start()
    c = srv.client(srv.tenant("window"))
    job = c.post("/v1/jobs", json={"command": ["sh", "-c", "echo done"]}).json()
    _wait_state(c, job["id"], {"succeeded"})
    srv.stop()
    store = Store(srv.db)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "update jobs set state='scheduled', handle=NULL, released=0, finished_s=NULL, started_s=NULL, version=version+1 where id=?", (job["id"],)
        )
    store.close()

    # Like the report's reproducer: the server leads its own process group (setsid), as under a service manager.
    with open(srv.data_dir / "restart.log", "ab") as log:
        proc = subprocess.Popen(
            [*CPNET, "serve", "--db", srv.db, "--data-dir", str(srv.data_dir), "--port", str(srv.port), "--interval-s", "0.1", "--job-root", str(srv.job_root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"server exited with {proc.returncode}: {(srv.data_dir / 'restart.log').read_text()}"
            try:
                state = c.get(f"/v1/jobs/{job['id']}").json()["state"]
                if state == "succeeded":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(3)  # the report's server died ~2.5 s after start
        assert proc.poll() is None
        events = [e["kind"] for e in c.get(f"/v1/jobs/{job['id']}/events").json()["events"]]
        assert events[-3:] == ["adopted", "started", "finished"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def test_db_password_on_the_command_line_is_refused_and_workers_get_no_url_in_argv(make_server: Callable[[str], Server], tmp_path: Path) -> None:
    out = subprocess.run(
        [*CPNET, "serve", "--db", "postgresql+psycopg://u:secret@127.0.0.1:1/x", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0 and "--db contains a password" in out.stderr and "CPNET_DB_URL" in out.stderr

    url_file = tmp_path / "db.url"
    url_file.write_text("sqlite:///" + str(tmp_path / "x.db"))
    os.chmod(url_file, 0o644)
    out = subprocess.run([*CPNET, "serve", "--db-url-file", str(url_file), "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "chmod 600" in out.stderr

    srv = make_server("sqlite")
    srv.start("--workers", "1")
    assert srv.proc is not None
    children = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True, text=True).stdout.split()
    cmdlines = [Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode() for p in children]
    assert any("cpnet.api.worker" in cl for cl in cmdlines)
    assert not any("sqlite:" in cl for cl in cmdlines), cmdlines


def test_without_root_the_local_executor_refuses_a_second_tenant_unless_told(tmp_path: Path, job_root: Path) -> None:
    """`single-tenant` is what `auto` isolation resolves to without root (this test runs as root, so it asks for it)."""
    from cpnet.api.server import build_service
    from cpnet.executors.sandbox import SandboxError

    db = f"sqlite:///{tmp_path / 'cpnet.db'}"
    store = Store(db)
    store.migrate()
    for name in ("t1", "t2"):
        store.create_tenant(name, 1.0, 0.0)
    store.close()
    config = {"isolation": "single-tenant", "job_root": str(job_root)}
    with pytest.raises(SandboxError, match=r"cannot run 2 tenants' jobs apart.*--insecure-shared-user"):
        build_service(db=db, data_dir=str(tmp_path), executor_config=config, reconcile=False)
    build_service(db=db, data_dir=str(tmp_path), executor_config={**config, "isolation": "shared"}, reconcile=False)


def test_job_env_is_the_spec_and_the_contract_only(make_server: Callable[[str], Server]) -> None:
    srv = make_server("sqlite")
    srv.start()
    c = srv.client(srv.tenant("envcheck"))
    done, log = _run_job(c, "import json, os; print(json.dumps(dict(os.environ)))", env={"MINE": "1"})
    env = json.loads(log)
    extra = {k for k in env if not k.startswith("CPNET_")} - {"PATH", "HOME", "TMPDIR", "LANG", "MINE", "PWD", "SHLVL", "OLDPWD", "_"}
    assert extra == set(), extra
    assert env["MINE"] == "1" and env["CPNET_JOB_ID"] == done["id"]
    assert env["CPNET_CHECKPOINT_DIR"].startswith(env["HOME"])


def test_specs_that_cannot_launch_are_refused_at_submit(make_server: Callable[[str], Server], tmp_path: Path) -> None:
    """Finding 3: before, these were accepted (201) and looped scheduled -> launch-failed -> pending forever."""
    srv = make_server("sqlite")
    srv.start()
    c = srv.client(srv.tenant("badspecs"))
    (tmp_path / "afile").write_text("x")
    for body, field in (
        ({"command": ["true"], "workdir": str(tmp_path / "missing")}, "workdir"),
        ({"command": ["true"], "workdir": str(tmp_path / "afile")}, "workdir"),
        ({"command": ["ec\u0000ho"]}, "command.0"),
        ({"command": ["true"], "env": {"A": "x\u0000y"}}, "env.A"),
    ):
        r = c.post("/v1/jobs", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"].startswith(field), r.text
    assert c.post("/v1/jobs", json={"command": ["true"], "workdir": str(tmp_path)}).status_code == 201
