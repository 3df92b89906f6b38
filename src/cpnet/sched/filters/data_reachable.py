"""`data-reachable`: a job with input data (`data_gb` > 0 at `data_site`) can only run where that
data can be copied to: the site must be the data site or reachable from it over the links.

Status: UnschedulableAndUnresolvable for a site the data site has no path to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import SCHEDULABLE, Network, Status, UnschedulableAndUnresolvable


@dataclass(frozen=True, slots=True)
class DataReachable:
    name: str = "data-reachable"

    def filter(self, spec: JobSpec, site: Site, model: str, net: Network) -> Status:
        if spec.data_gb <= 0 or spec.data_site is None or not math.isinf(net.transfer_s(spec.data_gb, spec.data_site, site.id)):
            return SCHEDULABLE
        return UnschedulableAndUnresolvable(f"site '{site.id}' has no network path from data site '{spec.data_site}'")

    def explain(self, spec: JobSpec, pools: Sequence[tuple[Site, str]], net: Network) -> str:
        return f"no allowed site is reachable from data site '{spec.data_site}'"
