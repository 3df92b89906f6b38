"""Throughput model: measured values match the public files, estimates follow the documented rule."""

from __future__ import annotations

import ast
import csv
import io
import json
import math
from pathlib import Path

import pytest

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.catalog.measurements import POLLUX_LOCAL_BATCH, build_shipped_points, read_measured_file
from cpnet.catalog.throughput import SCALING_EFFICIENCY, SPEED_INDEX_EXPONENT, ThroughputModel
from cpnet.core.errors import UnknownNameError
from cpnet.core.snapshot import ThroughputTable

SHARED = Path("/work/shared/data")
GAVEL_JSON = SHARED / "gavel" / "simulation_throughputs.json"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="needs /work/shared/data")


@pytest.fixture(scope="module")
def model() -> ThroughputModel:
    return load_throughputs()


@pytest.fixture(scope="module")
def gavel() -> dict:
    return json.loads(GAVEL_JSON.read_text())


def test_implements_throughput_table_protocol(model: ThroughputModel) -> None:
    table: ThroughputTable = model
    assert table.steps_per_s("A3C", "V100", 1) == pytest.approx(7.175767179667988)


def test_job_types_are_gavel_26_plus_pollux_6(model: ThroughputModel, gavel: dict) -> None:
    gavel_types = {ast.literal_eval(k)[0] for k in gavel["v100"]}  # keys are Python tuple literals
    assert len(gavel_types) == 26
    assert set(model.job_types()) == gavel_types | set(POLLUX_LOCAL_BATCH)


@needs_shared
@pytest.mark.parametrize(
    ("job_type", "worker", "n"),
    [
        ("ResNet-18 (batch size 64)", "v100", 1),
        ("Transformer (batch size 128)", "p100", 4),
        ("LM (batch size 20)", "k80", 8),
        ("Recommendation (batch size 2048)", "v100", 1),
        ("CycleGAN", "k80", 1),
        ("ResNet-50 (batch size 32)", "v100", 8),
    ],
)
def test_measured_equals_gavel_json(model: ThroughputModel, gavel: dict, job_type: str, worker: str, n: int) -> None:
    expected = gavel[worker][f"('{job_type}', {n})"]["null"]
    e = model.entry(job_type, worker.upper(), n)
    assert e.label == "measured"
    assert e.steps_per_s == expected
    assert "Gavel" in e.source


def test_gavel_zero_means_cannot_run(model: ThroughputModel) -> None:
    # Gavel lists 0.0 for ResNet-50 bs128 on 2 K80s: it did not run.
    assert model.steps_per_s("ResNet-50 (batch size 128)", "K80", 2) is None
    assert model.entry("ResNet-50 (batch size 128)", "K80", 2).label == "measured"
    assert model.steps_per_s("ResNet-50 (batch size 128)", "K80", 16) is None


def test_scale_factors(model: ThroughputModel) -> None:
    assert model.scale_factors("A3C") == (1,)
    assert model.scale_factors("CycleGAN") == (1,)
    assert model.scale_factors("ResNet-18 (batch size 64)") == (1, 2, 4, 8)
    assert 16 in model.scale_factors("bert")
    with pytest.raises(UnknownNameError):
        model.scale_factors("nope")


@needs_shared
def test_shipped_file_is_what_the_builder_derives() -> None:
    assert build_shipped_points(str(SHARED)) == read_measured_file()


def test_every_type_has_a_value_on_every_model_with_specs(model: ThroughputModel) -> None:
    cat = model.catalog
    for t in model.job_types():
        for a in cat:
            e = model.entry(t, a, 1)
            assert e.label in ("measured", "estimated") and e.source
            if a in ("MLU590", "Huashan-A1000"):
                assert e.steps_per_s is None and "no compute or bandwidth" in e.source
            else:
                assert e.steps_per_s is not None and e.steps_per_s > 0, (t, a)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_newer_chips_are_faster_on_gavel_types(model: ThroughputModel, n: int) -> None:
    for t in model.job_types():
        if t in POLLUX_LOCAL_BATCH:
            continue
        v100 = model.steps_per_s(t, "V100", n)
        if v100 is None:
            continue
        for newer in ("A100", "H100", "H200", "MI300X"):
            value = model.entry(t, newer, n)
            assert value.label == "estimated"
            assert value.steps_per_s is not None and value.steps_per_s >= v100, (t, newer, n)
        assert model.steps_per_s(t, "H200", n) >= model.steps_per_s(t, "H100", n)


def test_cross_chip_estimate_is_anchor_times_speed_index_ratio(model: ThroughputModel) -> None:
    cat = load_catalog()
    h100, v100 = cat["H100"], cat["V100"]
    ratio = math.sqrt(h100.peak_fp16_tflops / v100.peak_fp16_tflops * h100.memory_bandwidth_gb_s / v100.memory_bandwidth_gb_s)
    e = model.entry("Transformer (batch size 64)", "H100", 4)
    anchor = model.steps_per_s("Transformer (batch size 64)", "V100", 4)
    assert e.steps_per_s == pytest.approx(anchor * ratio**SPEED_INDEX_EXPONENT)
    assert "V100" in e.source


def test_unmeasured_count_scales_from_nearest_measured_count(model: ThroughputModel) -> None:
    one = model.steps_per_s("A3C", "V100", 1)
    for n in (2, 3, 8, 12):
        e = model.entry("A3C", "V100", n)
        assert e.label == "estimated"
        assert e.steps_per_s == pytest.approx(one * n ** (1 + math.log2(SCALING_EFFICIENCY)))
    # 12 devices: nearest Gavel count is 8.
    eight = model.steps_per_s("ResNet-18 (batch size 32)", "P100", 8)
    assert model.steps_per_s("ResNet-18 (batch size 32)", "P100", 12) == pytest.approx(eight * 1.5 ** (1 + math.log2(SCALING_EFFICIENCY)))


def test_pollux_t4_is_measured_and_a100_from_elasticflow(model: ThroughputModel) -> None:
    e = model.entry("imagenet", "T4", 1)
    assert e.label == "measured" and "Pollux" in e.source
    a = model.entry("imagenet", "A100", 1)
    assert a.label == "measured" and "ElasticFlow" in a.source
    # ElasticFlow resnet50.csv: 6.8429775823889685 iterations/s at global batch 64 on 1 GPU.
    assert a.steps_per_s == pytest.approx(6.8429775823889685)
    assert model.local_batch_size("imagenet") == 64
    assert model.local_batch_size("ResNet-50 (batch size 32)") == 32
    assert model.local_batch_size("A3C") is None


def test_unknown_names(model: ThroughputModel) -> None:
    assert model.steps_per_s("nope", "V100", 1) is None
    assert model.steps_per_s("A3C", "TPUv9", 1) is None
    assert model.steps_per_s("A3C", "V100", 0) is None
    with pytest.raises(UnknownNameError) as info:
        model.entry("nope", "V100", 1)
    assert "A3C" in str(info.value) and "bert" in str(info.value)


@needs_shared
def test_sia_overlay_from_shared_files() -> None:
    overlay = load_throughputs(extra_measurements_dir=str(SHARED / "sia"))
    for chip, cluster in [("V100", "azure"), ("A100", "dgx-ext"), ("RTX2080Ti", "rtx"), ("RTX6000", "quad")]:
        e = overlay.entry("bert", chip, 1)
        assert e.label == "measured"
        assert e.source.startswith("Sia (SOSP'23) artifact, research use") and cluster in e.source
    # placements-azure.csv, bert, placement 1, local_bsz 8: steps/s = 1 / step_time.
    text = (SHARED / "sia/throughput_traces/bert/placements-azure.csv").read_text()
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["placement"] == "1" and r["local_bsz"] == "8"]
    step_time = sum(float(r["step_time"]) for r in rows) / len(rows)
    assert overlay.steps_per_s("bert", "V100", 1) == pytest.approx(1 / step_time)
    # Shipped licensed values are kept where both exist.
    assert overlay.entry("imagenet", "A100", 1).source.startswith("ElasticFlow")
    # Without the overlay nothing from Sia's unlicensed files appears.
    plain = load_throughputs()
    assert not any("Sia" in plain.entry(t, a, 1).source for t in plain.job_types() for a in plain.catalog)


def test_a_lookup_is_computed_once_then_memoised(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts of devices beyond the precomputed ones are filled on first use and remembered (the
    simulator asks the same question per job per event; bench/sim_speed.py measures the speed)."""
    model = load_throughputs()
    calls: list[tuple[str, str, int]] = []
    fill = ThroughputModel._fill

    def counting(self: ThroughputModel, t: str, a: str, n: int) -> object:
        calls.append((t, a, n))
        return fill(self, t, a, n)

    monkeypatch.setattr(ThroughputModel, "_fill", counting)
    rates = {model.steps_per_s("ResNet-50 (batch size 64)", "H100", 12) for _ in range(1000)}
    assert len(rates) == 1 and None not in rates
    assert calls == [("ResNet-50 (batch size 64)", "H100", 12)]
    assert model.steps_per_s("ResNet-50 (batch size 64)", "H100", 8) is not None and len(calls) == 1  # precomputed at load
