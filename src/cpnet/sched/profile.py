"""The placement profile every bundled policy uses today (cpnet.sched.framework.Profile).

Filters (in this order, see cpnet.sched.filters): site-up, valid-gang, sites-allowed, latency-slo,
data-reachable, accelerators-allowed, known-throughput, gang-fits, power-cap.

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
from cpnet.sched.scores import Carbon, DataLocality, DataTransfer, EnergyPrice, Latency, PowerHeadroom, Throughput

DEFAULT_PROFILE = Profile(
    name="default",
    filters=DEFAULT_FILTERS,
    site_scores=((DataLocality(), 1.0), (Latency(), 1.0)),
    tie_breaks=(EnergyPrice(),),
    model_score=Throughput(),
)


def weighted_profile(name: str, *, transfer: float, latency: float, cost: float, carbon: float, power: float) -> Profile:
    """A profile whose site order is the weighted sum of data-transfer, latency, energy-price (at the
    current price), carbon (at the current intensity) and power-headroom scores; weights >= 0, terms
    with weight 0 left out. Exact ties fall to latency, then the site id."""
    terms = ((DataTransfer(), transfer), (Latency(), latency), (EnergyPrice(), cost), (Carbon(), carbon), (PowerHeadroom(), power))
    for score, w in terms:
        if w < 0:
            raise ValueError(f"weight of score '{score.name}' must be >= 0, got {w}")
    return Profile(
        name=name,
        filters=DEFAULT_FILTERS,
        site_scores=tuple((s, float(w)) for s, w in terms if w > 0),
        tie_breaks=(Latency(),),
        model_score=Throughput(),
    )
