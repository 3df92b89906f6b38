"""`valid-gang`: a job must ask for at least one device.

Status: UnschedulableAndUnresolvable when `spec.num_devices < 1`, for every pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import SCHEDULABLE, Network, Status, UnschedulableAndUnresolvable


@dataclass(frozen=True, slots=True)
class ValidGang:
    name: str = "valid-gang"

    def filter(self, spec: JobSpec, site: Site, model: str, net: Network) -> Status:
        return SCHEDULABLE if spec.num_devices >= 1 else UnschedulableAndUnresolvable(self.explain(spec, (), net))

    def explain(self, spec: JobSpec, pools: Sequence[tuple[Site, str]], net: Network) -> str:
        return f"num_devices must be >= 1, got {spec.num_devices}"
