"""`cpnet catalog` views through the real CLI: one line per model in 80 columns, the provenance only
with --sources, --json and --csv, and the CU rates of `--throughput`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.catalog.compute_units import cu_rate

CPNET = [sys.executable, "-m", "cpnet.cli.main"]
MODELS = list(load_catalog())


def _run(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {"COLUMNS": str(columns), "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([*CPNET, "catalog", *args], capture_output=True, text=True, timeout=60, env=env)


def _model_lines(out: str) -> dict[str, list[str]]:
    """Table lines by the model named in their model column (the first or second cell)."""
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│").split("│")]
        for cell in cells[:2]:
            if cell in MODELS:
                found.setdefault(cell, []).append(line)
                break
    return found


@pytest.mark.parametrize("args", [[], ["--throughput"], ["--throughput", "bert"], ["-t", "ResNet-50 (batch size 64)", "-n", "64"]])
def test_each_view_fits_80_columns_one_line_per_model(args: list[str]) -> None:
    out = _run(*args)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, out.stdout
    by_model = _model_lines(out.stdout)
    assert set(by_model) == set(MODELS) and all(len(v) == 1 for v in by_model.values()), out.stdout
    assert len(lines) <= len(MODELS) + 8  # title, header, rules: no wrapped rows
    assert "speed-index ratio" not in out.stdout and "OSDI'21) placements" not in out.stdout  # no provenance chain


def test_summary_line_shows_cu_types_measured_and_basis() -> None:
    out = _run("--throughput")
    model = load_throughputs(load_catalog())
    n_types = len(model.job_types())
    v100 = _model_lines(out.stdout)["V100"][0]
    cells = [c.strip() for c in v100.strip("│").split("│")]
    measured = sum(any(model.entry(t, "V100", n).label == "measured" for n in model.scale_factors(t)) for t in model.job_types())
    assert cells == ["V100", "NVIDIA", "16", "300", "1.00", f"{measured}/{n_types}", "measured"]
    h100 = [c.strip() for c in _model_lines(out.stdout)["H100"][0].strip("│").split("│")]
    assert h100[4] == f"{cu_rate('H100'):.2f}" and h100[5] == f"0/{n_types}" and h100[6] == "estimated"
    mlu = [c.strip() for c in _model_lines(out.stdout)["MLU590"][0].strip("│").split("│")]
    assert mlu[4] == "—" and mlu[6] == "unknown"  # no throughput data: no CU invented


def test_sources_only_on_request() -> None:
    plain, chained = _run("-t", "bert"), _run("-t", "bert", "--sources", columns=200)
    assert plain.returncode == 0 and chained.returncode == 0, plain.stderr + chained.stderr
    assert "speed-index ratio" not in plain.stdout
    assert "speed-index ratio 0.216^0.65" in chained.stdout and "Pollux (OSDI'21) placements-aws.csv" in chained.stdout
    summary = _run("--throughput", "--sources")
    assert "Gavel 26" in _model_lines(summary.stdout)["V100"][0]  # where the V100's values come from
    full = _run("--sources", columns=200)
    assert "Epoch AI ML Hardware, row 'NVIDIA H100 SXM5" in full.stdout


def test_json_and_csv_have_a_row_per_model() -> None:
    rows = json.loads(_run("--throughput", "--json").stdout)
    assert [r["model"] for r in rows] == MODELS
    by_model = {r["model"]: r for r in rows}
    assert by_model["V100"]["cu_rate"] == 1.0 and by_model["MLU590"]["cu_rate"] is None and by_model["MLU590"]["label"] == "unknown"
    assert by_model["T4"]["cu_rate"] == pytest.approx(cu_rate("T4"))
    per_type = json.loads(_run("bert", "--json").stdout)  # JOB_TYPE alone: that type's view
    t4 = next(r for r in per_type if r["model"] == "T4")
    assert t4["label"] == "measured" and t4["cu_rate"] == pytest.approx(cu_rate("T4", "bert")) and t4["source"].startswith("Pollux")
    table = list(csv.DictReader(io.StringIO(_run("--csv").stdout)))
    assert [r["model"] for r in table] == MODELS and next(r for r in table if r["model"] == "H100")["tdp_w"] == "700.0"
    assert next(r for r in table if r["model"] == "MLU590")["peak_fp16_tflops"] == ""  # unknown: empty, not 0
    both = _run("--json", "--csv")
    assert both.returncode == 2 and "--json or --csv" in both.stderr
