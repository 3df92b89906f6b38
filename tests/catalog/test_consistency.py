"""Consistency check of the measured throughputs (cpnet.catalog.consistency): synthetic agreements and
disagreements, the shipped table alone and with the Sia overlay, and what the declarations do to the
table's bert A100/T4 ratio."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.catalog.compute_units import cu_rate
from cpnet.catalog.consistency import DECLARED, TOLERANCE, Resolution, check, failures, resolve, workload_of
from cpnet.catalog.measurements import MeasuredPoint, read_measured_file, sia_overlay_points
from cpnet.catalog.throughput import SPEED_INDEX_EXPONENT

SHARED = Path("/work/shared/data")
needs_shared = pytest.mark.skipif(not (SHARED / "sia").is_dir(), reason="needs /work/shared/data")
EF = "ElasticFlow throughputs_A100/x.csv"
SIA = "Sia (SOSP'23) artifact, research use; placements-dgx-ext.csv"


def _pair(a: float, b: float, n: int = 1, job_type: str = "bert") -> list[MeasuredPoint]:
    """The same cell measured by ElasticFlow (a steps/s) and Sia (b steps/s) at local batch 8."""
    return [MeasuredPoint(job_type, "A100", n, a, EF, 8), MeasuredPoint(job_type, "A100", n, b, SIA, 8)]


def test_an_undeclared_disagreement_is_flagged_and_a_declared_one_is_not() -> None:
    points = _pair(15.0, 10.0)
    [found] = check(points, declared=())
    assert found.status == "disagree" and found.sources == ("ElasticFlow", "Sia")
    assert found.samples_per_s == (15.0 * 8, 10.0 * 8) and found.ratio == pytest.approx(1.5)
    assert failures([found]) == [found]
    rule = Resolution("bert", "A100", ("ElasticFlow", "Sia"), (1,), "Sia", "because")
    [declared] = check(points, declared=(rule,))
    assert declared.status == "declared" and declared.note == "Sia wins: because" and failures([declared]) == []
    other_count = Resolution("bert", "A100", ("ElasticFlow", "Sia"), (8,), "Sia", "because")
    assert check(points, declared=(other_count,))[0].status == "disagree"  # a declaration covers its counts only


def test_tolerance_is_symmetric_in_the_ratio() -> None:
    inside, outside = (1 + TOLERANCE) * 0.999, (1 + TOLERANCE) * 1.001
    assert check(_pair(10.0 * inside, 10.0), declared=())[0].status == "agree"
    assert check(_pair(10.0, 10.0 * inside), declared=())[0].status == "agree"
    assert check(_pair(10.0 * outside, 10.0), declared=())[0].status == "disagree"
    assert check(_pair(10.0, 10.0 * outside), declared=())[0].status == "disagree"
    assert check(_pair(15.0, 10.0), tolerance=0.6, declared=())[0].status == "agree"


def test_a_declaration_whose_cells_agree_is_stale_and_fails() -> None:
    rule = Resolution("bert", "A100", ("ElasticFlow", "Sia"), (1,), "Sia", "because")
    [found] = check(_pair(10.0, 10.5), declared=(rule,))
    assert found.status == "stale" and failures([found]) == [found]


def test_only_the_same_workload_at_the_same_local_batch_is_compared() -> None:
    sia = MeasuredPoint("imagenet", "V100", 1, 5.0, "Sia (SOSP'23) artifact, research use; placements-azure.csv", 64)
    gavel64 = MeasuredPoint("ResNet-50 (batch size 64)", "V100", 1, 4.0, "Gavel (OSDI'20) simulation_throughputs.json", 64)
    gavel32 = MeasuredPoint("ResNet-50 (batch size 32)", "V100", 1, 8.0, "Gavel (OSDI'20) simulation_throughputs.json", 32)
    other = MeasuredPoint("ResNet-18 (batch size 64)", "V100", 1, 4.0, "Gavel (OSDI'20) simulation_throughputs.json", 64)
    assert workload_of("ResNet-50 (batch size 64)") == "imagenet" and workload_of("ResNet-18 (batch size 64)") == "cifar10"
    found, missing = check([sia, gavel64, gavel32, other], declared=())
    assert (missing.status, missing.workload, missing.job_types) == ("not compared", "cifar10", ("ResNet-18 (batch size 64)",))
    assert found.workload == "imagenet" and found.job_types == ("ResNet-50 (batch size 64)", "imagenet")
    assert found.ratio == pytest.approx(4.0 / 5.0) and found.status == "agree"


def test_a_missing_second_source_is_reported_not_compared() -> None:
    found = check([MeasuredPoint("bert", "A100", 8, 10.0, EF, 8), MeasuredPoint("bert", "T4", 1, 1.0, "Pollux placements-aws.csv", 8)], declared=DECLARED)
    assert [(f.status, f.workload, f.accelerator, f.sources) for f in found] == [("not compared", "bert", "A100", ("ElasticFlow", "Sia"))]
    assert "--extra-measurements" in found[0].note and "Sia wins" in found[0].note  # the declaration still applies
    assert failures(found) == []


def test_shipped_table_passes_and_says_what_it_could_not_compare() -> None:
    findings = check(read_measured_file())
    assert failures(findings) == []
    assert {f.status for f in findings} == {"not compared"}  # the shipped file has one source per cell
    pairs = {(f.workload, f.accelerator, f.sources) for f in findings}
    assert pairs == {
        ("bert", "A100", ("ElasticFlow", "Sia")),
        ("deepspeech2", "A100", ("ElasticFlow", "Sia")),
        ("imagenet", "A100", ("ElasticFlow", "Sia")),
        ("imagenet", "V100", ("Gavel", "Sia")),
        ("cifar10", "V100", ("Gavel", "Sia")),
    }


def _sia_step_time(model: str, cluster: str, placement: str, local_bsz: int) -> float:
    rows = list(csv.DictReader((SHARED / "sia" / "throughput_traces" / model / f"placements-{cluster}.csv").open()))
    times = [float(r["step_time"]) for r in rows if r["placement"] == placement and int(r["local_bsz"]) == local_bsz]
    return sum(times) / len(times)


@needs_shared
def test_with_the_sia_overlay_every_disagreement_is_declared() -> None:
    findings = check([*read_measured_file(), *sia_overlay_points(str(SHARED / "sia"))])
    assert failures(findings) == []
    assert "not compared" not in {f.status for f in findings}
    for rule in DECLARED:  # every declaration is needed by a cell it covers
        assert any(f.status == "declared" and rule.covers(f.workload, f.accelerator, f.sources, f.num_devices or 0) for f in findings), rule
    by_cell = {(f.workload, f.accelerator, f.num_devices): f for f in findings}
    assert by_cell[("imagenet", "A100", 1)].status == "agree"
    # bert on 8 A100: ElasticFlow's 64-sample global batch on 8 GPUs vs Sia's placement '8' at local batch 8.
    ef_iterations = next(float(r["8"]) for r in csv.DictReader((SHARED / "elasticflow/throughputs_A100/bert.csv").open()) if r["global_batch_size"] == "64")
    sia_samples = 8 * 8 / _sia_step_time("bert", "dgx-ext", "8", 8)
    assert by_cell[("bert", "A100", 8)].ratio == pytest.approx(ef_iterations * 64 / sia_samples)
    assert by_cell[("bert", "A100", 8)].status == "declared"


def test_resolve_drops_the_declared_losers_points_only() -> None:
    rule = Resolution("bert", "A100", ("ElasticFlow", "Sia"), (8,), "Sia", "because")
    keep = [
        MeasuredPoint("bert", "A100", 16, 1.0, EF, 8),  # another count
        MeasuredPoint("imagenet", "A100", 8, 1.0, EF, 64),  # another type
        MeasuredPoint("bert", "A100", 8, 1.0, SIA, 8),  # the winner
    ]
    assert resolve([MeasuredPoint("bert", "A100", 8, 1.0, EF, 8), *keep], (rule,)) == keep
    both_kept = Resolution("cifar10", "V100", ("Gavel", "Sia"), (1,), None, "separate types")
    cifar = [MeasuredPoint("cifar10", "V100", 1, 1.0, "Sia x", 64), MeasuredPoint("ResNet-18 (batch size 64)", "V100", 1, 1.0, "Gavel x", 64)]
    assert resolve(cifar, (both_kept,)) == cifar


def _speed_index(a: str, b: str) -> float:
    cat = load_catalog()
    x, y = cat[a], cat[b]
    assert x.peak_fp16_tflops and y.peak_fp16_tflops and x.memory_bandwidth_gb_s and y.memory_bandwidth_gb_s
    return math.sqrt(x.peak_fp16_tflops / y.peak_fp16_tflops * x.memory_bandwidth_gb_s / y.memory_bandwidth_gb_s)


def test_bert_a100_over_t4_is_the_speed_index_estimate_without_the_overlay() -> None:
    # The shipped file keeps ElasticFlow's bert rows (data), the table does not use them (declared loser).
    assert any(p.job_type == "bert" and p.accelerator == "A100" and p.source.startswith("ElasticFlow") for p in read_measured_file())
    model = load_throughputs()
    for n in (1, 8, 16):
        e = model.entry("bert", "A100", n)
        assert e.label == "estimated" and "T4" in e.source and "ElasticFlow" not in e.source
    want = _speed_index("A100", "T4") ** SPEED_INDEX_EXPONENT  # rule 3, anchor T4 (the one chip measured for bert)
    assert model.steps_per_s("bert", "A100", 1) / model.steps_per_s("bert", "T4", 1) == pytest.approx(want)  # type: ignore[operator]
    assert cu_rate("A100", "bert") / cu_rate("T4", "bert") == pytest.approx(want)  # type: ignore[operator]


@needs_shared
def test_bert_a100_over_t4_is_one_harness_ratio_with_the_overlay() -> None:
    model = load_throughputs(extra_measurements_dir=str(SHARED / "sia"))
    # Both at local batch 8 on one GPU: Pollux's T4 (placements-aws.csv) and Sia's A100 (placements-dgx-ext.csv).
    want = _sia_step_time("bert", "aws", "1", 8) / _sia_step_time("bert", "dgx-ext", "1", 8)
    assert model.steps_per_s("bert", "A100", 1) / model.steps_per_s("bert", "T4", 1) == pytest.approx(want)  # type: ignore[operator]
    assert model.entry("bert", "A100", 8).source.startswith("Sia") and model.entry("deepspeech2", "A100", 2).source.startswith("Sia")
    assert model.entry("imagenet", "A100", 1).source.startswith("ElasticFlow")  # agrees with Sia: the shipped value is kept
