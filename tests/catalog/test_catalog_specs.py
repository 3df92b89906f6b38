"""The shipped accelerator catalog and its loader's validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpnet.catalog import load_catalog
from cpnet.catalog.specs import default_catalog_path
from cpnet.core.errors import InputError
from cpnet.core.model import Accelerator

CANONICAL_KEYS = (
    *("K80", "P100", "V100", "T4", "A10", "A100", "A800", "H100", "H800", "H20", "H200", "MI250X", "MI300X", "Gaudi2", "Gaudi3"),
    *("Ascend-910B", "MLU370-X8", "MLU590", "MTT-S4000", "Hygon-DCU", "Jetson-AGX-Orin", "Qualcomm-AI100", "Huashan-A1000", "RTX2080Ti", "RTX6000"),
)


def test_shipped_catalog_covers_canonical_models_and_vendors() -> None:
    cat = load_catalog()
    assert tuple(cat) == CANONICAL_KEYS
    assert len(cat) >= 20
    assert len(cat.vendors()) >= 8
    assert cat.version == 1
    assert all(isinstance(a, Accelerator) for a in cat.values())


def test_every_row_has_a_source_and_empty_numbers_are_explained() -> None:
    cat = load_catalog()
    for key, acc in cat.items():
        assert acc.source, key
        numbers = (acc.peak_fp16_tflops, acc.memory_gib, acc.memory_bandwidth_gb_s, acc.tdp_w)
        if None in numbers:
            assert cat.entry(key).note, key


@pytest.mark.parametrize(
    ("key", "fp16", "mem", "bw", "tdp"),
    [
        ("V100", 125, 16, 897, 300),
        ("H100", 989.4, 80, 3350, 700),
        ("MI300X", 1307.4, 192, 5300, 750),
        ("Ascend-910B", 376, 64, 1600, 400),
        ("K80", None, 12, 240, 150),  # one GK210, the unit Gavel measured
        ("MLU590", None, None, None, None),  # no public figure found
    ],
)
def test_datasheet_values(key: str, fp16: float | None, mem: float | None, bw: float | None, tdp: float | None) -> None:
    acc = load_catalog()[key]
    assert (acc.peak_fp16_tflops, acc.memory_gib, acc.memory_bandwidth_gb_s, acc.tdp_w) == (fp16, mem, bw, tdp)


def test_tier_hints() -> None:
    cat = load_catalog()
    assert cat["H100"].tier_hint == "cloud"
    assert cat["T4"].tier_hint == "edge"
    assert cat["Jetson-AGX-Orin"].tier_hint == "device"


def _copy_with(tmp_path: Path, old: str, new: str) -> str:
    text = Path(default_catalog_path()).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "bad.csv"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return str(path)


def _line_of(path: str, needle: str) -> int:
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


@pytest.mark.parametrize(
    ("old", "new", "field", "needle"),
    [
        ("V100,NVIDIA,NVIDIA Tesla V100,SXM2 16 GB,125,", "V100,NVIDIA,NVIDIA Tesla V100,SXM2 16 GB,fast,", "peak_fp16_tflops", "V100,NVIDIA"),
        (
            "H100,NVIDIA,NVIDIA H100,SXM5 80 GB,989.4,tensor FP16/BF16 dense,66.91,80,3350,700,cloud,",
            "H100,NVIDIA,NVIDIA H100,SXM5 80 GB,989.4,tensor FP16/BF16 dense,66.91,80,-3350,700,cloud,",
            "memory_bandwidth_gb_s",
            "H100,NVIDIA",
        ),
        ("A10,NVIDIA,", "A10,,", "vendor", "A10,,"),
        ("1600,400,cloud,", "1600,400,orbit,", "tier_hint", "Ascend-910B,"),
        ("RTX6000,NVIDIA,NVIDIA Quadro RTX 6000,24 GB,32.62,", "RTX6000,NVIDIA,NVIDIA Quadro RTX 6000,24 GB,,", "note", "RTX6000,"),
    ],
)
def test_malformed_cell_names_file_line_and_field(tmp_path: Path, old: str, new: str, field: str, needle: str) -> None:
    if field == "note":
        # Emptying a number is only an error when the note does not explain it.
        path = _copy_with(tmp_path, old, new)
        text = Path(path).read_text(encoding="utf-8").replace("Measurement-only part (Sia 'quad' cluster); tensor FP16 figure not found", "")
        Path(path).write_text(text, encoding="utf-8")
    else:
        path = _copy_with(tmp_path, old, new)
    with pytest.raises(InputError) as info:
        load_catalog(path)
    err = info.value
    assert err.path == path
    assert err.field == field
    assert err.line == _line_of(path, needle)
    assert f"line {err.line}" in str(err) and path in str(err)


def test_missing_schema_version_and_duplicates(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, "schema_version: 1", "schema: one")
    with pytest.raises(InputError, match="schema_version"):
        load_catalog(path)
    text = Path(default_catalog_path()).read_text(encoding="utf-8")
    v100 = next(line for line in text.splitlines() if line.startswith("V100,"))
    dup = tmp_path / "dup.csv"
    dup.write_text(text + v100 + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_catalog(str(dup))
    assert info.value.field == "model" and info.value.line == len(text.splitlines()) + 1


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_catalog(str(tmp_path / "absent.csv"))
