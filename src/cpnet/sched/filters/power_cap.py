"""`power-cap`: a site with `power_cap_kw` must be able to run the whole gang within its cap with
every other device idle:

    idle_kw(site) + n x (1 - IDLE_FRACTION) x TDP(model) x PUE / 1000 <= power_cap_kw   (cpnet.core.power)

Status: UnschedulableAndUnresolvable when even that does not fit (the job can never run there).
Whether the gang fits under the cap *now*, beside the jobs already running, is checked when the job
is placed (cpnet.sched.power.PowerRoom), like free devices: that is a wait, not a filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.core.power import busy_increment_kw, idle_draw_kw
from cpnet.sched.framework import SCHEDULABLE, Network, Status, UnschedulableAndUnresolvable


@dataclass(frozen=True, slots=True)
class PowerCap:
    name: str = "power-cap"

    def filter(self, spec: JobSpec, site: Site, model: str, net: Network) -> Status:
        cap = site.power_cap_kw
        if cap is None:
            return SCHEDULABLE
        need = idle_draw_kw(site, net.catalog) + busy_increment_kw(site, model, spec.num_devices, net.catalog)
        if need <= cap:
            return SCHEDULABLE
        return UnschedulableAndUnresolvable(f"{spec.num_devices} x {model} at '{site.id}' would draw {need:.1f} kW, over its {cap:.1f} kW cap")

    def explain(self, spec: JobSpec, pools: Sequence[tuple[Site, str]], net: Network) -> str:
        return f"every usable site's power cap is too small for {spec.num_devices} busy devices: " + ", ".join(sorted({s.id for s, _ in pools}))
