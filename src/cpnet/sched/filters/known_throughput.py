"""`known-throughput`: the throughput table must know a positive rate (steps/s) for the job type
on `num_devices` devices of the pool's model.

Status: UnschedulableAndUnresolvable when the rate is unknown (None) or <= 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import SCHEDULABLE, Network, Status, UnschedulableAndUnresolvable


@dataclass(frozen=True, slots=True)
class KnownThroughput:
    name: str = "known-throughput"

    def filter(self, spec: JobSpec, site: Site, model: str, net: Network) -> Status:
        r = net.throughput.steps_per_s(spec.job_type, model, spec.num_devices)
        if r is not None and r > 0:
            return SCHEDULABLE
        return UnschedulableAndUnresolvable(f"no throughput for job type '{spec.job_type}' on {spec.num_devices} device(s) of {model}")

    def explain(self, spec: JobSpec, pools: Sequence[tuple[Site, str]], net: Network) -> str:
        models = sorted({m for _, m in pools})
        return f"no throughput for job type '{spec.job_type}' on {spec.num_devices} device(s) of {models}"
