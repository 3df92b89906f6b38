"""`cpnet scenario` through the installed entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CPNET = str(Path(sys.executable).parent / "cpnet")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # A wide COLUMNS keeps Rich from wrapping the one-line error message at 80 columns.
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([CPNET, *args], capture_output=True, text=True, timeout=60, env=env)


def test_show_gavel() -> None:
    result = _run("scenario", "show", "gavel-36-36-36")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "gavel-cluster" in out and "cloud" in out
    assert "V100 36" in out and "P100 36" in out and "K80 36" in out
    assert "108" in out


def test_list_names_every_bundled_scenario() -> None:
    result = _run("scenario", "list")
    assert result.returncode == 0, result.stderr
    for name in ("east-data-west-compute (default)", "gavel-36-36-36", "philly-cluster"):
        assert name in result.stdout


def test_bad_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("schema_version: 1\nname: t\nsites: []\ntenants: []\n", encoding="utf-8")
    result = _run("scenario", "show", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and "line 3" in lines[0] and "'sites'" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_name_exits_2_listing_valid_names() -> None:
    result = _run("scenario", "show", "no-such-scenario")
    assert result.returncode == 2
    assert "gavel-36-36-36" in result.stderr and "east-data-west-compute" in result.stderr
