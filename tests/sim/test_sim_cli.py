"""`cpnet simulate` end to end: outputs, determinism, and one-line errors for unknown names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cpnet.cli import simulate_cmd

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
        # gavel-36-36-36's only tenant is "default" and Philly's VCs are not it: --tenants defaults to map
        "policy_params": {"fifo": {}, "gavel-las": {}}, "tenants": "map", "slack_h": None,
        "deferrable_fraction": None, "deferrable_jobs": 0,
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


def test_unwritable_out_and_negative_seed_fail_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    proc = cpnet("simulate", "--jobs", "5", "--out", str(tmp_path / "a-file" / "o"), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot write there" in lines[0], proc.stderr
    assert proc.stdout == ""  # nothing was simulated: no table
    proc = cpnet("simulate", "--jobs", "5", "--seed", "-1", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--seed" in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()


# --- --policy-param, --tenants, --slack-h (in process, with typer's CliRunner) ---------------

SMALL = ["--scenario", "east-data-west-compute", "--jobs", "60", "--policy", "fifo"]


def run_cli(*args: str) -> tuple[int, BaseException | None, str]:
    app = typer.Typer()
    simulate_cmd.register(app)  # a one-command app: the command runs without its name
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.exception, result.output


def inputs_of(out: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads((out / "results.json").read_text())["inputs"]
    return doc


def csv_tenants(path: Path) -> list[str]:
    import csv

    with path.open() as f:
        return [row["tenant"] for row in csv.DictReader(f)]


def test_policy_params_are_accepted_and_recorded(tmp_path: Path) -> None:
    out = tmp_path / "o"
    code, exc, text = run_cli(
        *SMALL, "--policy", "gavel-las", "--policy-param", "round_s=120", "--policy-param", "gavel-las:second_phase=false",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, (exc, text)
    inputs = inputs_of(out)
    assert inputs["policy_params"] == {"fifo": {"round_s": 120}, "gavel-las": {"round_s": 120, "second_phase": False}}
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert [r["round_s"] for r in runs] == [120, 120]  # the parameter reached the policies


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy-param", "no_such_knob=1"], ("unknown parameter of policy 'fifo'", "'no_such_knob'", "valid: ", "round_s")),
        (["--policy-param", "gavel-las:x=1"], ("names policy 'gavel-las'", "not a --policy")),
        (["--policy-param", "round_s"], ("is not NAME=VALUE",)),
        (["--policy-param", "round_s=abc"], ("--policy-param for policy 'fifo'",)),
        (["--deferrable-fraction", "0.5"], ("needs --slack-h",)),
    ],
)
def test_bad_policy_params_fail_before_anything_runs(tmp_path: Path, args: list[str], message: tuple[str, ...]) -> None:
    out = tmp_path / "o"
    code, exc, _ = run_cli(*SMALL, *args, "--out", str(out))
    assert code != 0 and exc is not None
    assert all(part in str(exc) for part in message), str(exc)
    assert not out.exists()  # rejected before any simulation wrote output


def test_unknown_policy_param_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = cpnet("simulate", *SMALL, "--policy-param", "no_such_knob=1", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "unknown parameter of policy 'fifo'" in lines[0] and "round_s" in lines[0], lines[0]


def test_tenants_map_changes_tenants(tmp_path: Path) -> None:
    outs = {mode: tmp_path / mode for mode in ("map", "trace", "default")}
    for mode, out in outs.items():
        extra = [] if mode == "default" else ["--tenants", mode]
        code, exc, text = run_cli(*SMALL, *extra, "--out", str(out))
        assert code == 0, (exc, text)
    mapped, kept = csv_tenants(outs["map"] / "jobs-fifo.csv"), csv_tenants(outs["trace"] / "jobs-fifo.csv")
    assert set(mapped) <= {"research", "industry", "public"}
    assert not set(kept) & {"research", "industry", "public"}  # Philly VC ids
    assert inputs_of(outs["map"])["tenants"] == "map" and inputs_of(outs["trace"])["tenants"] == "trace"
    # default: the scenario has tenants and Philly's VCs are not among them -> map
    assert inputs_of(outs["default"])["tenants"] == "map"
    assert csv_tenants(outs["default"] / "jobs-fifo.csv") == mapped


def test_slack_makes_jobs_deferrable(tmp_path: Path) -> None:
    out = tmp_path / "o"
    code, exc, text = run_cli(*SMALL, "--slack-h", "2", "--deferrable-fraction", "0.5", "--out", str(out))
    assert code == 0, (exc, text)
    inputs = inputs_of(out)
    assert inputs["slack_h"] == 2.0 and inputs["deferrable_fraction"] == 0.5
    assert isinstance(inputs["deferrable_jobs"], int) and 0 < inputs["deferrable_jobs"] < 60
