"""The placement profile every bundled policy uses today (cpnet.sched.framework.Profile).

Filters (in this order, see cpnet.sched.filters): site-up, valid-gang, sites-allowed, latency-slo,
accelerators-allowed, known-throughput, gang-fits.

Site order within one model, best first (what feasibility.py hard-coded before the framework):
the data site, then lowest latency from it, then cheapest energy (price x PUE), then site id. As
scores: data-locality x 1 + latency x 1, ties broken by energy-price. The weighted sum gives exactly
that order: the data site scores 1 + 1 = 2 (latency 0 ms) and every other site at most 0 + 1, and
among the others the sum is the latency score alone, strictly decreasing in latency; sites at equal
latency tie exactly and fall to energy-price, then to the id.

Model term: throughput (steps/s relative to the job's fastest usable model).
"""

from __future__ import annotations

from cpnet.sched.filters import DEFAULT_FILTERS
from cpnet.sched.framework import Profile
from cpnet.sched.scores import DataLocality, EnergyPrice, Latency, Throughput

DEFAULT_PROFILE = Profile(
    name="default",
    filters=DEFAULT_FILTERS,
    site_scores=((DataLocality(), 1.0), (Latency(), 1.0)),
    tie_breaks=(EnergyPrice(),),
    model_score=Throughput(),
)
