"""`cpnet serve` refuses a taken port in one line, before its banner and before anything starts."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "cpnet.cli.main"]


def test_port_in_use_is_one_line_before_the_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [*CLI, "serve", "--port", str(port), "--data-dir", str(tmp_path / "d"), "--no-reconcile"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"port {port}" in lines[0] and "already in use" in lines[0], proc.stderr
    assert "control plane on" not in proc.stderr
    assert not (tmp_path / "d").exists()  # nothing was created


def test_default_data_dir_does_not_depend_on_the_current_directory(tmp_path: Path) -> None:
    import os
    import time

    import httpx

    from live_server import free_port

    env = {**os.environ, "CPNET_HOME": str(tmp_path / "home")}
    env.pop("CPNET_DB_URL", None)
    shell_a, shell_b = tmp_path / "a", tmp_path / "b"
    shell_a.mkdir()
    shell_b.mkdir()
    made = subprocess.run([*CLI, "admin", "create-tenant", "alice"], cwd=shell_a, env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--no-reconcile", "--executor", "simulated"],
        cwd=shell_b,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                who = httpx.get(f"http://127.0.0.1:{port}/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.2)
        assert who.status_code == 200 and who.json()["tenant"] == "alice", who.text
    finally:
        server.terminate()
        server.wait(20)
    assert (tmp_path / "home" / "cpnet.db").exists()
    assert not any(p.name == ".cpnet" for p in tmp_path.rglob("*"))  # nothing written under either working directory
