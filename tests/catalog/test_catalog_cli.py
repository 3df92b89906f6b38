"""`cpnet catalog` through the installed entry point (real process, real exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CPNET = [sys.executable, "-m", "cpnet.cli.main"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([*CPNET, *args], capture_output=True, text=True, timeout=60, env=env)


def test_help_lists_catalog_command() -> None:
    out = _run("--help")
    assert out.returncode == 0
    assert "catalog" in out.stdout


def test_catalog_table() -> None:
    out = _run("catalog")
    assert out.returncode == 0, out.stderr
    for text in ("H100", "989.4", "Ascend-910B", "Huawei", "Moore Threads", "3,350", "Epoch AI ML Hardware"):
        assert text in out.stdout


def test_throughput_view_labels_measured_and_estimated() -> None:
    out = _run("catalog", "--throughput", "ResNet-18 (batch size 64)", "--devices", "4")
    assert out.returncode == 0, out.stderr
    lines = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.count("│") >= 4}
    assert "measured" in lines["V100"] and "95.588" in lines["V100"]
    assert "estimated" in lines["H100"]
    assert "—" in lines["MLU590"]


def test_unknown_job_type_exits_2_with_valid_names() -> None:
    out = _run("catalog", "--throughput", "ResNet-9000")
    assert out.returncode == 2
    assert "unknown job type 'ResNet-9000'" in out.stderr
    assert "A3C" in out.stderr and "bert" in out.stderr


def test_catalog_override_with_bad_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "cat.csv"
    bad.write_text("# schema_version: 1\nmodel,vendor\nX,Y\n", encoding="utf-8")
    out = _run("catalog", "--catalog", str(bad))
    assert out.returncode == 2
    assert str(bad) in out.stderr and "header lacks columns" in out.stderr


@pytest.mark.skipif(not Path("/work/shared/data/sia").is_dir(), reason="needs /work/shared/data/sia")
def test_overlay_option() -> None:
    out = _run("catalog", "-t", "bert", "--extra-measurements", "/work/shared/data/sia")
    assert out.returncode == 0, out.stderr
    assert "Sia (SOSP'23) artifact, research use" in out.stdout


def test_check_on_the_shipped_table_passes_and_lists_what_it_could_not_compare() -> None:
    out = _run("catalog", "--check")
    assert out.returncode == 0, out.stderr
    assert "not compared" in out.stdout and "ElasticFlow/Sia" in out.stdout and "Gavel/Sia" in out.stdout
    assert "disagree" not in out.stdout
    both = _run("catalog", "--check", "--throughput")
    assert both.returncode == 2 and "--check without" in both.stderr


def test_check_exits_1_on_an_undeclared_disagreement(tmp_path: Path) -> None:
    from cpnet.catalog.measurements import read_measured_file

    # A Sia overlay whose one A100 imagenet value (1 GPU, local batch 64) is half ElasticFlow's shipped one.
    ef = next(p for p in read_measured_file() if (p.job_type, p.accelerator, p.num_devices) == ("imagenet", "A100", 1))
    assert ef.samples_per_s is not None and ef.local_batch == 64
    folder = tmp_path / "throughput_traces" / "imagenet"
    folder.mkdir(parents=True)
    (folder / "placements-dgx-ext.csv").write_text(f"placement,local_bsz,step_time,sync_time\n1,64,{64 / (ef.samples_per_s / 2)!r},0.0\n", encoding="utf-8")
    out = _run("catalog", "--check", "--extra-measurements", str(tmp_path))
    assert out.returncode == 1, out.stdout + out.stderr
    row = next(line for line in out.stdout.splitlines() if "disagree" in line)
    assert "imagenet" in row and "A100" in row and "2.00" in row
    assert "undeclared disagreement" in out.stderr
    as_json = _run("catalog", "--check", "--json", "--extra-measurements", str(tmp_path))
    assert as_json.returncode == 1
    rows = json.loads(as_json.stdout)
    bad = [r for r in rows if r["status"] == "disagree"]
    assert len(bad) == 1 and bad[0]["ratio"] == pytest.approx(2.0) and bad[0]["source_a"] == "ElasticFlow"
