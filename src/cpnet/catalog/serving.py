"""Serving profiles: how fast one accelerator serves a request stream, measured or estimated.

Each `ServingProfile` carries a `label` that starts with "measured:" or "estimated from", like the
throughput table, and says from what.

**LLM serving (measured).** Rows of the MLPerf Inference LLM results
(`accelerators/mlperf_inference_llm_results.csv` under the shared data directory; SOURCES.md
section 17). That file is *not* shipped in the package: its v4.1 rows are Apache-2.0
(mlcommons/inference_results_v4.1), but its v5.1 rows come from a snapshot with no licence file,
so the whole file is read from the shared data directory at run time (`default_mlperf_path`).
Per row: tokens/s per accelerator = performance_result / accelerators_total_derived (the file's
`per_accelerator_result_derived`, rounded to 6 significant digits, is checked against it). Kept:
closed division, Tokens/s units, scenarios Offline / Server / Interactive, accelerators that map
to a catalog key (`ACCELERATOR_KEYS`); every other row is counted in `LlmResults.excluded` or, for
an accelerator with no catalog key, `LlmResults.unmapped`. `llm_profiles` summarizes per
(model key, LLM, scenario) the median over the systems of the newest MLPerf round that has any.

Time-to-first-token and per-token latency: **no column of the file holds them** (its columns are
the summary_results.json fields: one performance_result per scenario; Server / Interactive runs
meet MLPerf's TTFT/TPOT limits but the measured latencies are not in the summary). The only
latency rows are SingleStream "Latency (ms)" results (whole-query latency on edge systems), which
are counted as excluded. No TTFT/TPOT numbers are given here. `tokens_per_sample` (mean output
tokens per query) is parsed from the `accuracy` column where it appears.

**Vehicle perception and factory visual inspection (estimated).** Items per second per device =
datasheet peak x utilisation / work per item, for one fixed network per service
(`PERCEPTION_MODEL`, `INSPECTION_MODEL`). Peaks are INT8 TOPS from the shared
accelerator_specs.csv (`DATASHEET_INT8_TOPS`, rows named) or, where it has none, the catalog's
FP16 TFLOPS. A device with neither (Black Sesame Huashan A1000) is left out and listed in
`ESTIMATE_GAPS`, not guessed.
"""

from __future__ import annotations

import csv
import math
import os
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cpnet.catalog.specs import load_catalog
from cpnet.core.errors import CpnetError, InputError

MLPERF_FILE = "accelerators/mlperf_inference_llm_results.csv"
SHARED_DATA_ENV = "CPNET_SHARED_DATA"
LLM_SCENARIOS = ("Offline", "Server", "Interactive")
TOKENS_UNIT = "Tokens/s"
# the file's per_accelerator_result_derived has 6 significant digits
_DERIVED_REL_TOL = 1e-5

# MLPerf accelerator string -> catalog key. Only the variant the catalog row describes maps:
# H100 PCIe/NVL, GH200 (Grace-Hopper module) and mixed-accelerator clusters have other clocks,
# memory or host, so they stay out (counted in `unmapped`) rather than blur the H100/H200 rows.
ACCELERATOR_KEYS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(Virtualized )?NVIDIA H100-SXM-80GB$"), "H100"),
    (re.compile(r"^(Virtualized )?NVIDIA H200-SXM-141GB(-CTS)?$"), "H200"),
    (re.compile(r"^(AMD )?(Instinct )?MI300X[- ](NPS1-SPX-)?192GB(-750W| HBM3)?$"), "MI300X"),
    (re.compile(r"^Intel Gaudi 2 AI Accelerator \(96 GB HBM2E\)$"), "Gaudi2"),
    (re.compile(r"^NVIDIA Jetson AGX Orin 64G$"), "Jetson-AGX-Orin"),
)
_TOKENS_PER_SAMPLE_RE = re.compile(r"TOKENS_PER_SAMPLE:\s*([0-9.]+)")


@dataclass(frozen=True, slots=True)
class ServingProfile:
    """One accelerator's rate for one service: `rate_per_s` items (`unit`) per second."""

    service: str  # "llm", "vehicle-perception", "visual-inspection"
    model_key: str  # catalog key (cpnet.catalog.specs)
    workload: str  # LLM name (e.g. llama2-70b-99) or the network the estimate assumes
    scenario: str  # MLPerf scenario, or "per-frame" / "per-image"
    rate_per_s: float
    unit: str  # "tokens/s", "frames/s", "images/s"
    label: str  # "measured: ..." or "estimated from ..."
    systems: int = 0  # MLPerf systems behind a measured median; 0 for an estimate

    @property
    def measured(self) -> bool:
        return self.label.startswith("measured:")

    @property
    def service_time_s(self) -> float:
        """Seconds per item (1 / rate): a frame or image; for an LLM, one output token."""
        return 1.0 / self.rate_per_s


# --------------------------------------------------------------------------- LLM (measured)


@dataclass(frozen=True, slots=True)
class LlmResult:
    """One kept MLPerf row."""

    line: int
    mlperf_version: str
    result_id: str
    submitter: str
    system: str
    accelerator: str  # as MLPerf spells it
    model_key: str
    llm_model: str
    scenario: str
    accelerators: int
    performance_result_tokens_per_s: float
    tokens_per_s_per_accelerator: float
    weight_data_types: str
    tokens_per_sample: float | None


@dataclass(frozen=True, slots=True)
class LlmResults:
    """Kept rows plus counts of every row left out, so nothing is dropped silently."""

    path: str
    total_rows: int
    rows: tuple[LlmResult, ...]
    unmapped: Mapping[str, int]  # accelerator string (as MLPerf spells it) -> rows
    excluded: Mapping[str, int]  # reason -> rows


def default_mlperf_path() -> Path:
    """$CPNET_SHARED_DATA/<file>, else ../shared/data/<file> next to this checkout."""
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        return Path(env) / MLPERF_FILE
    # src/cpnet/catalog/serving.py -> parents[3] is the checkout; shared/ sits beside it
    return Path(__file__).resolve().parents[4] / "shared" / "data" / MLPERF_FILE


def accelerator_key(accelerator: str) -> str | None:
    """Catalog key of an MLPerf accelerator string, or None when it has none."""
    for pattern, key in ACCELERATOR_KEYS:
        if pattern.match(accelerator.strip()):
            return key
    return None


def _version_order(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def load_llm_results(path: str | Path | None = None) -> LlmResults:
    """Read the MLPerf LLM CSV; raise CpnetError if it is absent, InputError if malformed."""
    file = Path(path) if path is not None else default_mlperf_path()
    if not file.is_file():
        raise CpnetError(
            f"MLPerf LLM results not found at {file}: pass its path, or set ${SHARED_DATA_ENV} to the shared data directory (the one holding accelerators/)"
        )
    with open(file, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        needed = (
            "mlperf_version",
            "division",
            "accelerator",
            "accelerators_total_derived",
            "model",
            "scenario",
            "performance_result",
            "performance_units",
            "per_accelerator_result_derived",
        )
        missing = [name for name in needed if name not in (reader.fieldnames or ())]
        if missing:
            raise InputError(str(file), f"missing columns {', '.join(missing)}; expected the SOURCES.md section 17 layout")
        rows: list[LlmResult] = []
        unmapped: Counter[str] = Counter()
        excluded: Counter[str] = Counter()
        total = 0
        for line, raw in enumerate(reader, start=2):
            total += 1
            row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
            reason = _exclusion(row)
            if reason is not None:
                excluded[reason] += 1
                continue
            key = accelerator_key(row["accelerator"])
            if key is None:
                unmapped[row["accelerator"]] += 1
                continue
            rows.append(_parse_row(str(file), line, row, key))
    return LlmResults(str(file), total, tuple(rows), dict(unmapped), dict(excluded))


def _exclusion(row: Mapping[str, str]) -> str | None:
    if row["performance_units"] != TOKENS_UNIT:
        return f"units {row['performance_units'] or '(empty)'}, not {TOKENS_UNIT}"
    if row["scenario"] not in LLM_SCENARIOS:
        return f"scenario {row['scenario'] or '(empty)'}"
    if row["division"] != "closed":
        # open-division entries may change the model (pruning, other checkpoints): not comparable
        return f"{row['division'] or '(empty)'} division"
    if not row["accelerators_total_derived"]:
        return "no accelerator count (CPU-only system)"
    return None


def _parse_row(file: str, line: int, row: Mapping[str, str], key: str) -> LlmResult:
    def number(field: str) -> float:
        try:
            value = float(row[field])
        except ValueError:
            raise InputError(file, f"'{row[field]}' is not a number", line=line, field=field) from None
        if not (value > 0 and math.isfinite(value)):
            raise InputError(file, f"must be a positive number, got {row[field]}", line=line, field=field)
        return value

    count = number("accelerators_total_derived")
    if count != int(count):
        raise InputError(file, f"accelerator count must be whole, got {count}", line=line, field="accelerators_total_derived")
    result = number("performance_result")
    per_accelerator = result / count
    if row["per_accelerator_result_derived"]:
        listed = number("per_accelerator_result_derived")
        if not math.isclose(listed, per_accelerator, rel_tol=_DERIVED_REL_TOL):
            raise InputError(
                file,
                f"per-accelerator {listed} != {result} / {int(count)} = {per_accelerator:.6g}",
                line=line,
                field="per_accelerator_result_derived",
            )
        per_accelerator = listed  # what the file states; equal to the quotient to 6 digits
    match = _TOKENS_PER_SAMPLE_RE.search(row.get("accuracy", ""))
    return LlmResult(
        line=line,
        mlperf_version=row["mlperf_version"],
        result_id=row.get("result_id", ""),
        submitter=row.get("submitter", ""),
        system=row.get("system", ""),
        accelerator=row["accelerator"],
        model_key=key,
        llm_model=row["model"],
        scenario=row["scenario"],
        accelerators=int(count),
        performance_result_tokens_per_s=result,
        tokens_per_s_per_accelerator=per_accelerator,
        weight_data_types=row.get("weight_data_types", ""),
        tokens_per_sample=float(match.group(1)) if match else None,
    )


def llm_profiles(results: LlmResults | None = None) -> tuple[ServingProfile, ...]:
    """Median tokens/s per accelerator per (model key, LLM, scenario), newest MLPerf round only.

    Only the newest round is used because software moves the numbers between rounds (the H100's
    llama2-70b Offline best went 3,066 -> 3,902 tokens/s from v4.1 to v5.1, SOURCES.md 17).
    """
    results = results if results is not None else load_llm_results()
    groups: dict[tuple[str, str, str], list[LlmResult]] = defaultdict(list)
    for row in results.rows:
        groups[(row.model_key, row.llm_model, row.scenario)].append(row)
    profiles = []
    for (key, llm, scenario), group in sorted(groups.items()):
        newest = max((r.mlperf_version for r in group), key=_version_order)
        chosen = [r for r in group if r.mlperf_version == newest]
        median = statistics.median(r.tokens_per_s_per_accelerator for r in chosen)
        systems = "1 system" if len(chosen) == 1 else f"{len(chosen)} systems"
        label = f"measured: MLPerf Inference {newest}, closed, {systems}"
        profiles.append(ServingProfile("llm", key, llm, scenario, median, "tokens/s", label, len(chosen)))
    return tuple(profiles)


# ----------------------------------------------------- perception and inspection (estimated)

VEHICLE_FRAME_BUDGET_MS = 100.0  # end-to-end budget per camera+lidar frame (issue item 2)


@dataclass(frozen=True, slots=True)
class WorkModel:
    """Work per item of a reference network, and the share of peak a device sustains on it."""

    name: str
    tera_ops_per_item: float  # 1 MAC = 2 ops
    utilisation: float
    source: str


# BEVFusion (Liu et al., "BEVFusion: Multi-Task Multi-Sensor Fusion with Unified Bird's-Eye View
# Representation", ICRA 2023, arXiv 2205.13542): 6 cameras at 256x704 + one LiDAR sweep, about
# 253 GMACs per frame (the paper's efficiency table; value as recalled, check before relying on
# it). Utilisation 0.10: NVIDIA's CUDA-BEVFusion is reported at about 25 frames/s on Jetson AGX
# Orin (INT8/FP16 TensorRT), i.e. ~9 % of Orin's dense INT8 peak -- sparse voxel convolutions and
# BEV pooling keep such networks far from peak.
PERCEPTION_MODEL = WorkModel(
    name="bevfusion-like camera+lidar (6 cameras 256x704 + 1 lidar sweep)",
    tera_ops_per_item=2 * 253.0e-3,
    utilisation=0.10,
    source="BEVFusion (arXiv 2205.13542) ~253 GMACs/frame; utilisation 0.10 from ~25 frames/s reported for CUDA-BEVFusion on Jetson AGX Orin",
)

# ResNet-50 at 224x224: ~4.1 GMACs per image (torchvision's model table: 4.09 GFLOPS counted as
# multiply-adds). Dense CNNs run much nearer peak than BEVFusion: MLPerf Inference ResNet-50 on
# T4-class GPUs sustains roughly a third of INT8 peak, hence 0.30.
INSPECTION_MODEL = WorkModel(
    name="resnet50-224 defect classifier",
    tera_ops_per_item=2 * 4.09e-3,
    utilisation=0.30,
    source="ResNet-50 224x224 ~4.09 GMACs/image (torchvision); utilisation 0.30, about what MLPerf ResNet-50 sustains on T4-class GPUs",
)


@dataclass(frozen=True, slots=True)
class PeakCompute:
    """A datasheet peak a device is estimated from."""

    model_key: str
    tera_ops_per_s: float
    precision: str  # "int8" or "fp16"
    source: str


# INT8 TOPS from /work/shared/data/accelerators/accelerator_specs.csv (column int8_tops; the row
# named). Copied as facts so the package needs no shared data; tests check them against the file.
DATASHEET_INT8_TOPS: dict[str, tuple[float, str]] = {
    "Jetson-AGX-Orin": (275.0, "NVIDIA Jetson AGX Orin"),  # SPARSE (2:4) figure for the module
    "Qualcomm-AI100": (325.0, "Qualcomm Cloud AI 100"),  # Standard SKU
    "A10": (250.0, "NVIDIA A10"),
}
# 2:4 structured sparsity doubles NVIDIA's quoted peak; dense work gets half of it.
SPARSE_INT8_KEYS = frozenset({"Jetson-AGX-Orin"})

PERCEPTION_DEVICES = ("Jetson-AGX-Orin", "Qualcomm-AI100", "Huashan-A1000", "T4", "A10")
INSPECTION_DEVICES = ("Jetson-AGX-Orin", "Qualcomm-AI100", "T4", "A10")

# Devices asked for but left out, and why (no number guessed for them).
ESTIMATE_GAPS: dict[str, str] = {
    "Huashan-A1000": "no INT8 TOPS or FP16 TFLOPS for the A1000 in accelerator_specs.csv or the catalog "
    "(only A1000L 16 TOPS and A1000 Pro 196 TOPS in secondary pages, SOURCES.md 16)",
}


def peak_compute(model_key: str) -> PeakCompute | None:
    """INT8 peak where the specs list one (halved if sparse), else catalog FP16; None if neither."""
    listed = DATASHEET_INT8_TOPS.get(model_key)
    if listed is not None:
        tops, row = listed
        if model_key in SPARSE_INT8_KEYS:
            return PeakCompute(model_key, tops / 2, "int8", f"{tops:g} sparse INT8 TOPS / 2 (accelerator_specs.csv row '{row}')")
        return PeakCompute(model_key, tops, "int8", f"{tops:g} INT8 TOPS (accelerator_specs.csv row '{row}')")
    catalog = load_catalog()
    if model_key not in catalog:
        return None
    entry = catalog.entry(model_key)
    fp16 = entry.accelerator.peak_fp16_tflops
    if fp16 is None:
        return None
    # no INT8 figure in the data: assume the network runs at FP16 on the datasheet FP16 peak
    return PeakCompute(model_key, fp16, "fp16", f"{fp16:g} FP16 TFLOPS ({entry.fp16_metric}; catalog accelerators.csv)")


def _estimated(service: str, devices: tuple[str, ...], work: WorkModel, unit: str, scenario: str) -> tuple[ServingProfile, ...]:
    profiles = []
    for key in devices:
        peak = peak_compute(key)
        if peak is None:
            continue  # listed in ESTIMATE_GAPS
        rate = peak.tera_ops_per_s * work.utilisation / work.tera_ops_per_item
        label = f"estimated from {peak.source} x utilisation {work.utilisation:g}; work: {work.source}"
        profiles.append(ServingProfile(service, key, work.name, scenario, rate, unit, label))
    return tuple(profiles)


def perception_profiles() -> tuple[ServingProfile, ...]:
    """Camera+lidar frames/s per device (device-tier SoCs, or an edge GPU the car offloads to)."""
    return _estimated("vehicle-perception", PERCEPTION_DEVICES, PERCEPTION_MODEL, "frames/s", "per-frame")


def inspection_profiles() -> tuple[ServingProfile, ...]:
    """Factory visual inspection images/s per edge accelerator."""
    return _estimated("visual-inspection", INSPECTION_DEVICES, INSPECTION_MODEL, "images/s", "per-image")


def perception_fits_budget(profile: ServingProfile, rtt_ms: float = 0.0) -> bool:
    """Whether one frame's RTT (0 on the vehicle) + service time fits VEHICLE_FRAME_BUDGET_MS, before queueing."""
    return rtt_ms + 1000.0 * profile.service_time_s <= VEHICLE_FRAME_BUDGET_MS
