"""`cpnet serve` refuses a taken port in one line, before its banner and before anything starts."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def test_port_in_use_is_one_line_before_the_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "cpnet.cli.main", "serve", "--port", str(port), "--data-dir", str(tmp_path / "d"), "--no-reconcile"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"port {port}" in lines[0] and "already in use" in lines[0], proc.stderr
    assert "control plane on" not in proc.stderr
    assert not (tmp_path / "d").exists()  # nothing was created
