"""The throughput table and accelerator names the control plane schedules with.

Real jobs usually have no measured profile. They get the job type `generic`, for which we assume
**1 step per second per device on any accelerator model** (linear scaling, no model preference):
the scheduler then treats all pools alike for them, and `total_steps` (default
GENERIC_TOTAL_STEPS) only sets the scheduler's runtime estimate; the job really ends when its
process exits. Named job types (Gavel's, Pollux's) use the catalog's throughput model.
"""

from __future__ import annotations

from collections.abc import Mapping

from cpnet.core.model import Accelerator
from cpnet.core.snapshot import ThroughputTable
from cpnet.executors.local import CPU_POOL

GENERIC_JOB_TYPE = "generic"
GENERIC_STEPS_PER_DEVICE_S = 1.0
GENERIC_TOTAL_STEPS = 3600.0

# The canonical keys, used only while the catalog package cannot be loaded.
CANONICAL_MODELS = (
    *("K80", "P100", "V100", "T4", "A10", "A100", "A800", "H100", "H800", "H20", "H200", "MI250X", "MI300X", "Gaudi2", "Gaudi3"),
    *("Ascend-910B", "MLU370-X8", "MLU590", "MTT-S4000", "Hygon-DCU", "Jetson-AGX-Orin", "Qualcomm-AI100", "Huashan-A1000", "RTX2080Ti", "RTX6000"),
)


def load_catalog_or_empty() -> Mapping[str, Accelerator]:
    try:
        from cpnet.catalog import load_catalog
    except ImportError:
        return {}
    return load_catalog()


def known_models(catalog: Mapping[str, Accelerator]) -> frozenset[str]:
    return frozenset(catalog or CANONICAL_MODELS) | {CPU_POOL}


class ControlThroughput:
    """`generic` jobs by the documented assumption; every other type from `base`."""

    def __init__(self, base: ThroughputTable | None = None) -> None:
        self.base = base

    def steps_per_s(self, job_type: str, accelerator: str, num_devices: int) -> float | None:
        if job_type == GENERIC_JOB_TYPE:
            return GENERIC_STEPS_PER_DEVICE_S * num_devices
        if self.base is None:
            return None
        return self.base.steps_per_s(job_type, accelerator, num_devices)

    def knows(self, job_type: str) -> bool:
        if job_type == GENERIC_JOB_TYPE:
            return True
        types = getattr(self.base, "job_types", None)
        if callable(types):
            types = types()
        return types is None or job_type in types


def load_control_throughput(catalog: Mapping[str, Accelerator]) -> ControlThroughput:
    try:
        from cpnet.catalog import Catalog, load_throughputs
    except ImportError:
        return ControlThroughput(None)
    # The throughput model needs the catalog's datasheet entries: an empty fallback mapping gets none.
    return ControlThroughput(load_throughputs(catalog) if isinstance(catalog, Catalog) and catalog else None)
