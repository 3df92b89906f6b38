"""`site-up`: a pool at a site that is down now cannot hold a job now; it may when the site returns.

Status: Unschedulable("site '<id>' is down") for a known site that is down (the job waits);
Schedulable otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import SCHEDULABLE, Network, Status, Unschedulable


@dataclass(frozen=True, slots=True)
class SiteUp:
    name: str = "site-up"

    def filter(self, spec: JobSpec, site: Site, model: str, net: Network) -> Status:
        return SCHEDULABLE if net.is_up(site.id) else Unschedulable(f"site '{site.id}' is down")

    def explain(self, spec: JobSpec, pools: Sequence[tuple[Site, str]], net: Network) -> str:
        return "only sites that are down now could hold it: " + ", ".join(sorted({s.id for s, _ in pools}))
