"""`cpnet simulate` end to end: outputs, determinism, and one-line errors for unknown names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ARGS = ["--scenario", "gavel-36-36-36", "--jobs", "120", "--policy", "fifo", "--policy", "gavel-las"]


def cpnet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cpnet.cli.main", *args], cwd=cwd, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    base = tmp_path_factory.mktemp("simulate")
    outs = [base / "a", base / "b"]
    stdout = ""
    for out in outs:
        proc = cpnet("simulate", *ARGS, "--out", str(out), cwd=base)
        assert proc.returncode == 0, proc.stderr
        stdout = proc.stdout
    return outs[0], outs[1], stdout


def test_same_seed_gives_byte_identical_results_json(two_runs: tuple[Path, Path, str]) -> None:
    a, b, _ = two_runs
    assert (a / "results.json").read_bytes() == (b / "results.json").read_bytes()
    assert (a / "jobs-gavel-las.csv").read_bytes() == (b / "jobs-gavel-las.csv").read_bytes()


def test_outputs_table_and_schema(two_runs: tuple[Path, Path, str]) -> None:
    a, _, stdout = two_runs
    for name in ("results.json", "timing.json", "jct_cdf.png", "utilization.png", "jobs-fifo.csv"):
        assert (a / name).stat().st_size > 0, name
    assert (a / "jct_cdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((a / "results.json").read_text())
    assert doc["inputs"] == {
        "scenario": "gavel-36-36-36", "trace": "philly-sample", "seed": 0, "jobs": 120, "jobs_limit": 120,
        "policies": ["fifo", "gavel-las"], "measure": None,
    }  # fmt: skip
    assert [r["policy"] for r in doc["runs"]] == ["fifo", "gavel-las"]
    m = doc["runs"][1]["metrics"]
    assert m["jobs"] == 120 and m["jobs_finished"] + m["jobs_infeasible"] == 120
    assert m["avg_jct_s"] > 0 and 0 < m["utilization"] <= 1 and m["energy_kwh"] > 0
    assert doc["runs"][1]["round_s"] == 360
    assert "wall" not in (a / "results.json").read_text()  # wall times go to timing.json only
    assert "gavel-las" in stdout and "avg JCT h" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "nope"], ("unknown policy 'nope'; valid: ", "fifo", "gavel-las")),
        (["--scenario", "atlantis"], ("unknown scenario 'atlantis'; valid: ", "gavel-36-36-36")),
        (["--trace", "no-such-trace"], ("unknown trace 'no-such-trace'; valid: ", "philly-sample")),
    ],
)
def test_unknown_names_are_one_line_exit_2(tmp_path: Path, args: list[str], message: tuple[str, ...]) -> None:
    proc = cpnet("simulate", *args, "--jobs", "5", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert all(part in lines[0] for part in message), lines[0]
