"""Serving profiles (cpnet.catalog.serving): MLPerf LLM rows measured, perception/inspection estimated."""

from __future__ import annotations

import csv
import statistics
from importlib import resources
from pathlib import Path

import pytest

from cpnet.catalog import serving
from cpnet.catalog.specs import load_catalog
from cpnet.core.errors import CpnetError, InputError

SHARED = Path("/work/shared/data")
MLPERF = SHARED / serving.MLPERF_FILE
SPECS = SHARED / "accelerators" / "accelerator_specs.csv"
needs_mlperf = pytest.mark.skipif(not MLPERF.is_file(), reason=f"needs {MLPERF}")
needs_specs = pytest.mark.skipif(not SPECS.is_file(), reason=f"needs {SPECS}")


@pytest.fixture(scope="module")
def results() -> serving.LlmResults:
    if not MLPERF.is_file():
        pytest.skip(f"needs {MLPERF}")
    return serving.load_llm_results(MLPERF)


def _csv_rows() -> list[dict[str, str]]:
    with open(MLPERF, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@needs_mlperf
def test_known_row_per_accelerator_tokens(results: serving.LlmResults) -> None:
    by_line = {row.line: row for row in results.rows}
    # v4.1-0001: AMD MI300X, 1 accelerator, llama2-70b-99 Offline, 3062.72 tokens/s
    first = by_line[2]
    assert (first.result_id, first.model_key, first.llm_model, first.scenario) == (
        "v4.1-0001",
        "MI300X",
        "llama2-70b-99",
        "Offline",
    )
    assert first.tokens_per_s_per_accelerator == 3062.72
    # every kept multi-accelerator row: per accelerator = the CSV's derived column = result / count
    checked = 0
    for line, raw in enumerate(_csv_rows(), start=2):
        row = by_line.get(line)
        if row is None or row.accelerators == 1:
            continue
        assert row.tokens_per_s_per_accelerator == float(raw["per_accelerator_result_derived"])
        expected = float(raw["performance_result"]) / float(raw["accelerators_total_derived"])
        assert row.tokens_per_s_per_accelerator == pytest.approx(expected, rel=1e-5)
        checked += 1
    assert checked > 100


@needs_mlperf
def test_every_row_is_kept_or_counted(results: serving.LlmResults) -> None:
    assert results.total_rows == len(_csv_rows())
    kept, unmapped, excluded = len(results.rows), sum(results.unmapped.values()), sum(results.excluded.values())
    assert kept + unmapped + excluded == results.total_rows
    # accelerators with no catalog key are counted by name, not dropped silently
    assert results.unmapped["NVIDIA B200-SXM-180GB"] > 0
    assert results.unmapped["NVIDIA L40S"] > 0
    assert "NVIDIA H100-PCIe-80GB" in results.unmapped  # another variant than the catalog's SXM5 H100
    assert results.excluded["open division"] > 0
    catalog = load_catalog()
    assert {row.model_key for row in results.rows} <= set(catalog)
    assert {row.model_key for row in results.rows} >= {"H100", "H200", "MI300X", "Gaudi2", "Jetson-AGX-Orin"}
    assert {row.scenario for row in results.rows} <= set(serving.LLM_SCENARIOS)


@needs_mlperf
def test_llm_profiles_are_labelled_medians(results: serving.LlmResults) -> None:
    profiles = serving.llm_profiles(results)
    assert profiles
    for profile in profiles:
        assert profile.measured and profile.unit == "tokens/s" and profile.service == "llm"
        assert profile.label.startswith("measured: MLPerf Inference v")
        group = [r for r in results.rows if (r.model_key, r.llm_model, r.scenario) == (profile.model_key, profile.workload, profile.scenario)]
        newest = max((r.mlperf_version for r in group), key=lambda v: tuple(int(x) for x in v[1:].split(".")))
        chosen = [r.tokens_per_s_per_accelerator for r in group if r.mlperf_version == newest]
        assert f"MLPerf Inference {newest}," in profile.label
        assert profile.systems == len(chosen)
        assert profile.rate_per_s == pytest.approx(statistics.median(chosen))
        assert profile.service_time_s == pytest.approx(1 / profile.rate_per_s)
    keys = {(p.model_key, p.workload, p.scenario) for p in profiles}
    assert ("H100", "llama2-70b-99", "Server") in keys
    assert ("H200", "llama2-70b-99", "Offline") in keys


def test_missing_results_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CpnetError, match=serving.SHARED_DATA_ENV):
        serving.load_llm_results(tmp_path / "absent.csv")


def test_per_accelerator_mismatch_is_an_input_error(tmp_path: Path) -> None:
    header = (
        "mlperf_version,division,accelerator,accelerators_total_derived,model,scenario,performance_result,performance_units,per_accelerator_result_derived\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "v4.1,closed,NVIDIA H100-SXM-80GB,8,llama2-70b-99,Offline,24000,Tokens/s,2000\n")
    with pytest.raises(InputError, match="per_accelerator_result_derived"):
        serving.load_llm_results(bad)
    good = tmp_path / "good.csv"
    good.write_text(header + "v4.1,closed,NVIDIA H100-SXM-80GB,8,llama2-70b-99,Offline,24000,Tokens/s,\n")
    (row,) = serving.load_llm_results(good).rows
    assert row.tokens_per_s_per_accelerator == 3000.0 and row.tokens_per_sample is None


def test_mlperf_file_is_not_shipped() -> None:
    # v5.1 rows come from a snapshot without a licence file (SOURCES.md): read at run time only
    assert not (resources.files("cpnet.catalog") / "data" / "mlperf_inference_llm_results.csv").is_file()


def test_estimated_profiles_are_labelled_with_their_source() -> None:
    perception = serving.perception_profiles()
    inspection = serving.inspection_profiles()
    assert perception and inspection
    for profile in perception + inspection:
        assert not profile.measured and profile.systems == 0
        assert profile.label.startswith("estimated from ")
        assert "TOPS" in profile.label or "TFLOPS" in profile.label
        assert "utilisation" in profile.label and "work:" in profile.label
        assert profile.rate_per_s > 0
    assert {p.unit for p in perception} == {"frames/s"}
    assert {p.unit for p in inspection} == {"images/s"}


def test_devices_without_datasheet_numbers_are_left_out() -> None:
    profiled = {p.model_key for p in serving.perception_profiles()}
    for key in serving.PERCEPTION_DEVICES:
        assert (key in profiled) != (key in serving.ESTIMATE_GAPS), key
    assert "Huashan-A1000" in serving.ESTIMATE_GAPS
    assert serving.peak_compute("Huashan-A1000") is None


def test_estimate_arithmetic() -> None:
    orin = serving.peak_compute("Jetson-AGX-Orin")
    assert orin is not None and orin.tera_ops_per_s == 137.5 and "sparse" in orin.source  # 275 sparse / 2
    t4 = serving.peak_compute("T4")
    assert t4 is not None and t4.precision == "fp16" and t4.tera_ops_per_s == 65.13
    by_key = {p.model_key: p for p in serving.perception_profiles()}
    work = serving.PERCEPTION_MODEL
    assert by_key["Jetson-AGX-Orin"].rate_per_s == pytest.approx(137.5 * work.utilisation / work.tera_ops_per_item)


def test_vehicle_budget() -> None:
    assert serving.VEHICLE_FRAME_BUDGET_MS == 100.0
    by_key = {p.model_key: p for p in serving.perception_profiles()}
    orin = by_key["Jetson-AGX-Orin"]
    assert serving.perception_fits_budget(orin)  # on the vehicle, no RTT
    assert not serving.perception_fits_budget(orin, rtt_ms=100.0)


@needs_specs
def test_int8_tops_match_the_specs_file() -> None:
    with open(SPECS, newline="", encoding="utf-8") as handle:
        specs = {row["accelerator"]: row for row in csv.DictReader(handle)}
    for key, (tops, row_name) in serving.DATASHEET_INT8_TOPS.items():
        assert float(specs[row_name]["int8_tops"]) == tops, key
    # the devices estimated from FP16 really have no INT8 figure there
    assert specs["NVIDIA T4"]["int8_tops"] == ""
    assert specs["Black Sesame Huashan A1000"]["int8_tops"] == ""
