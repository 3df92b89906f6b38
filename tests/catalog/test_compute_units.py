"""Compute-unit rates (cpnet.catalog.compute_units) against hand-computed ratios of literal tables,
and the shipped rates against the scheduler's throughput table."""

from __future__ import annotations

import pytest

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.catalog.compute_units import REFERENCE_MODEL, ComputeUnits, cu_rate, units_of


class Table:
    """A literal throughput table: (job type, model) -> steps/s on one device; anything else None."""

    def __init__(self, values: dict[tuple[str, str], float | None]) -> None:
        self.values = values
        self.calls = 0

    def steps_per_s(self, job_type: str, accelerator: str, num_devices: int) -> float | None:
        self.calls += 1
        assert num_devices == 1  # a CU is a device-second
        return self.values.get((job_type, accelerator))

    def job_types(self) -> list[str]:
        return sorted({t for t, _ in self.values})


TABLE = Table(
    {
        ("a", "V100"): 2.0,
        ("b", "V100"): 4.0,
        ("c", "V100"): 10.0,
        ("d", "V100"): None,  # the reference cannot run d: no ratio for anyone
        ("a", "X"): 4.0,  # 2.0
        ("b", "X"): 4.0,  # 1.0
        ("c", "X"): 5.0,  # 0.5
        ("d", "X"): 7.0,
        ("a", "Y"): 6.0,  # 3.0
        ("b", "Y"): 2.0,  # 0.5  -> median of two: 1.75
        ("c", "Y"): None,  # cannot run c
        ("a", "Z"): 0.0,  # a measured zero: cannot run
    }
)
MODELS = ["V100", "X", "Y", "Z", "W"]


def test_rates_are_ratios_to_the_v100_and_the_default_is_their_median() -> None:
    units = ComputeUnits.from_table(TABLE, MODELS)
    assert REFERENCE_MODEL == "V100" and units.reference == "V100"
    assert units.rate("X", "a") == 2.0 and units.rate("X", "b") == 1.0 and units.rate("X", "c") == 0.5
    assert units.rate("Y", "a") == 3.0 and units.rate("Y", "b") == 0.5
    assert units.rate("X") == 1.0  # median of 2.0, 1.0, 0.5
    assert units.rate("Y") == 1.75  # median of 3.0 and 0.5 (c: Y cannot run it)
    assert units.rate("V100") == 1.0 and units.rate("V100", "c") == 1.0
    assert units.job_types() == ["a", "b", "c"]  # d is left out: the reference has no value for it


def test_unknown_is_none_never_invented() -> None:
    units = ComputeUnits.from_table(TABLE, MODELS)
    assert units.rate("Y", "c") is None  # a type the model cannot run
    assert units.rate("Z") is None and units.rate("Z", "a") is None  # only a zero
    assert units.rate("W") is None  # no data at all
    assert units.rate("not-a-model") is None
    assert units.rate("X", "d") == units.rate("X") == 1.0  # a type without a ratio: the default
    assert units.rate("X", "generic") == 1.0  # an unknown type: the default
    empty = ComputeUnits.from_table(None, MODELS)
    assert all(empty.rate(m) is None for m in MODELS)


def test_units_of_remembers_per_table() -> None:
    table = Table(dict(TABLE.values))
    first = units_of(table, MODELS)
    calls = table.calls
    assert units_of(table, MODELS) is first and table.calls == calls
    other = Table({("a", "V100"): 1.0, ("a", "X"): 3.0})
    assert units_of(other, MODELS).rate("X") == 3.0  # a different table: its own rates


def test_shipped_rates_follow_the_throughput_table() -> None:
    model = load_throughputs(load_catalog())
    for job_type in ("bert", "ResNet-50 (batch size 64)"):
        want = model.steps_per_s(job_type, "T4", 1) / model.steps_per_s(job_type, "V100", 1)  # type: ignore[operator]
        assert cu_rate("T4", job_type) == pytest.approx(want)
    assert cu_rate("V100") == 1.0 and cu_rate("V100", "bert") == 1.0
    assert cu_rate("MLU590") is None and cu_rate("Huashan-A1000") is None  # no compute or bandwidth figure
    assert cu_rate("CPU") is None  # not in the catalog
    assert cu_rate("H100", "generic") == cu_rate("H100") and cu_rate("H100") > cu_rate("A100") > cu_rate("T4")  # type: ignore[operator]
