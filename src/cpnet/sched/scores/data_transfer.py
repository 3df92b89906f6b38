"""`data-transfer`: how long the job's input data takes to reach the pool's site.

    T = data_gb x 8 / bottleneck_gbps(data_site -> site) + RTT(data_site, site)   (cpnet.core.paths)
    score = 1 / (1 + T / 600 s)                                               range [0, 1]

1 at the data site (and for a job without data), 0.5 when the copy takes 10 minutes, 0 when the
site is unreachable from the data. Strictly decreasing in T.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import Network

SCALE_S = 600.0


@dataclass(frozen=True, slots=True)
class DataTransfer:
    name: str = "data-transfer"

    def score(self, spec: JobSpec, site: Site, model: str, rates: Mapping[str, float], net: Network) -> float:
        t = net.transfer_s(spec.data_gb, spec.data_site, site.id)
        return 0.0 if math.isinf(t) else 1.0 / (1.0 + t / SCALE_S)
