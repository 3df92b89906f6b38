"""`sites-allowed`: the pool's site must be one of `spec.sites` (None: any site).

Status: UnschedulableAndUnresolvable for a site the job does not allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import SCHEDULABLE, Network, Status, UnschedulableAndUnresolvable


@dataclass(frozen=True, slots=True)
class SitesAllowed:
    name: str = "sites-allowed"

    def filter(self, spec: JobSpec, site: Site, model: str, net: Network) -> Status:
        if spec.sites is None or site.id in spec.sites:
            return SCHEDULABLE
        return UnschedulableAndUnresolvable(f"site '{site.id}' is not among the allowed sites {sorted(spec.sites)}")

    def explain(self, spec: JobSpec, pools: Sequence[tuple[Site, str]], net: Network) -> str:
        return f"none of the allowed sites {sorted(spec.sites or ())} exists"
