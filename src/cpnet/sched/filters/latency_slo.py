"""`latency-slo`: with `latency_slo_ms` and `data_site` set, the shortest-path latency from the data
site to the pool's site must be <= the SLO (ms). Without either field every pool passes.

Status: UnschedulableAndUnresolvable for a site beyond the SLO (or unreachable from the data site).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import SCHEDULABLE, Network, Status, UnschedulableAndUnresolvable


@dataclass(frozen=True, slots=True)
class LatencySlo:
    name: str = "latency-slo"

    def filter(self, spec: JobSpec, site: Site, model: str, net: Network) -> Status:
        slo = spec.latency_slo_ms
        if slo is None or spec.data_site is None or net.latency(spec.data_site, site.id) <= slo:
            return SCHEDULABLE
        return UnschedulableAndUnresolvable(f"site '{site.id}' is more than {slo} ms from data site '{spec.data_site}'")

    def explain(self, spec: JobSpec, pools: Sequence[tuple[Site, str]], net: Network) -> str:
        return f"no allowed site within {spec.latency_slo_ms} ms of data site '{spec.data_site}'"
