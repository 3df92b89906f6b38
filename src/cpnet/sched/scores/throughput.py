"""`throughput`: the job's effective throughput on the pool's model, relative to its best model.

    score = T(job, model, n) / max_k T(job, k, n)        range (0, 1], 1 on the fastest model

T is the throughput table's steps/s on the job's `num_devices` devices; k ranges over the models
that passed the filters. The site does not enter: this is a per-model term (Gavel's throughput
matrix normalised per job), used by heterogeneity-aware allocators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import Network


@dataclass(frozen=True, slots=True)
class Throughput:
    name: str = "throughput"

    def score(self, spec: JobSpec, site: Site, model: str, rates: Mapping[str, float], net: Network) -> float:
        best = max(rates.values(), default=0.0)
        return rates.get(model, 0.0) / best if best > 0 else 0.0
