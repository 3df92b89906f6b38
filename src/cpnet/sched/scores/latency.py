"""`latency`: how close the pool's site is to the job's data site.

    score = 1 / (1 + L / 100 ms)                         range [0, 1]

L is the shortest-path latency (ms) from `spec.data_site` to the site over the links: 1 at the data
site itself (and for every site when the job has no data site), 0.5 at 100 ms, 0 when unreachable.
Strictly decreasing in L, so ranking by it is ranking by latency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import Network

SCALE_MS = 100.0


@dataclass(frozen=True, slots=True)
class Latency:
    name: str = "latency"

    def score(self, spec: JobSpec, site: Site, model: str, rates: Mapping[str, float], net: Network) -> float:
        return 1.0 / (1.0 + net.latency(spec.data_site, site.id) / SCALE_MS)
