"""`data-locality`: whether the pool is at the job's data site.

    score = 1 if site == spec.data_site else 0           range {0, 1}

Every site scores 0 for a job without a data site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import Network


@dataclass(frozen=True, slots=True)
class DataLocality:
    name: str = "data-locality"

    def score(self, spec: JobSpec, site: Site, model: str, rates: Mapping[str, float], net: Network) -> float:
        return 1.0 if site.id == spec.data_site else 0.0
