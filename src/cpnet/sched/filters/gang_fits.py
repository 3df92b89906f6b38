"""`gang-fits`: the pool (one model at one site) must own at least `num_devices` devices, since a
gang never splits across sites or models. This is the pool's inventory, not what is free now (the
allocator checks free devices when it places).

Status: UnschedulableAndUnresolvable when the pool is smaller than the gang.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import SCHEDULABLE, Network, Status, UnschedulableAndUnresolvable


@dataclass(frozen=True, slots=True)
class GangFits:
    name: str = "gang-fits"

    def filter(self, spec: JobSpec, site: Site, model: str, net: Network) -> Status:
        have = site.inventory.get(model, 0)
        if have >= spec.num_devices:
            return SCHEDULABLE
        return UnschedulableAndUnresolvable(f"{site.id} has {have} x {model}, the job needs {spec.num_devices}")

    def explain(self, spec: JobSpec, pools: Sequence[tuple[Site, str]], net: Network) -> str:
        if not pools:
            return f"needs {spec.num_devices} devices of one model at one site; no usable pool"
        have, site, model = max((s.inventory.get(m, 0), s.id, m) for s, m in pools)
        return f"needs {spec.num_devices} devices of one model at one site; the largest usable pool is {have} x {model} at {site}"
