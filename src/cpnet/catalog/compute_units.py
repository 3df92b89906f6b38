"""Compute units (CU): how much work one device-second of a model does, in V100 device-seconds.

Definition. For a job type J and an accelerator model X, with s(J, X) the steps/s of J on ONE
device of X in the throughput table the scheduler uses (`cpnet.control.throughput`, i.e. the
catalog's `load_throughputs`: measured where public measurements exist, else estimated):

    cu(X, J) = s(J, X) / s(J, REFERENCE_MODEL),   REFERENCE_MODEL = "V100"

so one device-second of X running J is worth cu(X, J) CU, and a V100 device-second is 1 CU for
every job type. For a job of unknown type (no type given, `generic`, or a type the table does not
have) the rate is the model's default:

    cu(X) = median over the table's job types J (where both s(J, X) and s(J, V100) are known
            and > 0) of cu(X, J)

(the median, not the mean: a few job types that one chip runs far better or worse than the V100
do not move it). A model with no throughput value for any job type (no datasheet compute or
bandwidth figure, e.g. MLU590, Huashan-A1000, or a pool outside the catalog such as CPU) has
rate None, "unknown": never invented. A job type that a model cannot run (the table's None) has
rate None for that type.

Why V100. It is the model with the most measured job types in the shipped table: Gavel's 26 types
are measured on K80, P100 and V100 (the optional Sia overlay measures V100 as well), against 6 on
T4 (Pollux) and 1 on A100 (ElasticFlow's imagenet; its bert and deepspeech2 are declared another
workload, cpnet.catalog.consistency); a ratio to the V100 is thus a ratio of two measurements for
most types. For the Pollux and ElasticFlow types, which do not measure the V100, its steps/s
(and so the ratio) is the table's estimate (speed-index rule, `cpnet.catalog.throughput`). The
V100 is also the usual reference of the scheduling literature these measurements come from
(Gavel normalises to it).

One device: the rate is per device-second; multi-device scaling (the table's per-doubling
efficiency) is a property of the gang, not of the device-second.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Protocol

REFERENCE_MODEL = "V100"


class JobTypeTable(Protocol):
    """What CU needs of a throughput table: steps/s on one device, and its job types."""

    def steps_per_s(self, job_type: str, accelerator: str, num_devices: int) -> float | None: ...

    def job_types(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class ComputeUnits:
    """CU rates of every model of a throughput table (see the module's docstring)."""

    reference: str
    per_type: Mapping[str, Mapping[str, float]]  # job type -> model -> cu(model, type); a model that cannot run it is absent
    default: Mapping[str, float]  # model -> median over job types; a model without any throughput is absent

    @classmethod
    def from_table(cls, table: JobTypeTable | None, models: Iterable[str], reference: str = REFERENCE_MODEL) -> ComputeUnits:
        """Rates of `models` from `table` (None: no table, every rate unknown)."""
        per_type: dict[str, dict[str, float]] = {}
        models = list(models)
        if table is None:
            return cls(reference, {}, {})
        for job_type in table.job_types():
            base = table.steps_per_s(job_type, reference, 1)
            if base is None or base <= 0:
                continue  # the reference cannot run it: no ratio for anyone
            rates: dict[str, float] = {}
            for model in models:
                value = table.steps_per_s(job_type, model, 1)
                if value is not None and value > 0:
                    rates[model] = value / base
            per_type[job_type] = rates
        default = {}
        for model in models:
            ratios = [rates[model] for rates in per_type.values() if model in rates]
            if ratios:
                default[model] = statistics.median(ratios)
        return cls(reference, per_type, default)

    def rate(self, model: str, job_type: str | None = None) -> float | None:
        """CU per device-second of `model` for `job_type` (None or a type the table lacks: the default)."""
        if job_type is not None and job_type in self.per_type:
            return self.per_type[job_type].get(model)
        return self.default.get(model)

    def job_types(self) -> list[str]:
        """The job types with a ratio (those the reference model can run)."""
        return list(self.per_type)


_BY_TABLE: dict[tuple[int, tuple[str, ...]], tuple[object, ComputeUnits]] = {}


def units_of(table: JobTypeTable | None, models: Iterable[str]) -> ComputeUnits:
    """`ComputeUnits.from_table`, remembered per table object and models (a server asks on every request)."""
    key = (id(table), tuple(models))
    hit = _BY_TABLE.get(key)
    if hit is not None and hit[0] is table:
        return hit[1]
    units = ComputeUnits.from_table(table, key[1])
    if len(_BY_TABLE) > 16:
        _BY_TABLE.clear()
    _BY_TABLE[key] = (table, units)  # the table is kept, so its id is not reused while the entry lives
    return units


@cache
def shipped_units() -> ComputeUnits:
    """CU rates of the shipped catalog's models from the scheduler's throughput table."""
    from cpnet.catalog.specs import load_catalog
    from cpnet.catalog.throughput import ThroughputModel
    from cpnet.control.throughput import load_control_throughput

    catalog = load_catalog()
    base = load_control_throughput(catalog).base
    return ComputeUnits.from_table(base if isinstance(base, ThroughputModel) else None, catalog)


def cu_rate(model: str, job_type: str | None = None) -> float | None:
    """CU per device-second of `model` for `job_type` in the shipped tables; None: unknown."""
    return shipped_units().rate(model, job_type)
