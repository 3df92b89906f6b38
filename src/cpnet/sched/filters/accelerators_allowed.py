"""`accelerators-allowed`: the pool's model must be one of `spec.accelerators` (None: any model).

Status: UnschedulableAndUnresolvable for a model the job does not allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import SCHEDULABLE, Network, Status, UnschedulableAndUnresolvable


@dataclass(frozen=True, slots=True)
class AcceleratorsAllowed:
    name: str = "accelerators-allowed"

    def filter(self, spec: JobSpec, site: Site, model: str, net: Network) -> Status:
        if spec.accelerators is None or model in spec.accelerators:
            return SCHEDULABLE
        return UnschedulableAndUnresolvable(f"model {model} is not among the allowed accelerators {sorted(spec.accelerators)}")

    def explain(self, spec: JobSpec, pools: Sequence[tuple[Site, str]], net: Network) -> str:
        return f"no allowed site has any of the allowed accelerators {sorted(spec.accelerators or ())}"
