"""Great-circle distance and the fibre-latency rule used for `latency: from_distance`.

Rule (round trip, in ms):

    latency_ms = 2 * d_km * route_factor * fibre_us_per_km / 1000 + overhead_ms

* d_km: great-circle (haversine) distance on a sphere of radius 6371.0 km.
* fibre_us_per_km: one-way propagation delay in single-mode fibre, 4.9 us/km by default
  (4.897 us/km at 1550 nm; "~5 us/km" rule of thumb; shared/data/energy/network_latency_reference.csv,
  SOURCES.md section 14).
* route_factor: fibre route length / great-circle distance. Default 1.5, an assumption: fibre
  follows roads and rail and is longer than the great circle (SOURCES.md section 14 asks for a
  route factor but gives no measured value for China).
* overhead_ms: a fixed allowance for transponders and switching; default 0 (propagation only,
  i.e. a lower bound; real RTTs are higher).

We compute RTT, not one-way delay, because latency SLOs and ping measurements are round trips.
Check: Beijing-Shanghai is 1,068 km great-circle -> 15.7 ms with the defaults; one third-party
test of cloud servers measured 28.6 ms average (low confidence, includes routing and queuing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

EARTH_RADIUS_KM = 6371.0


class UnlinkedPairs(StrEnum):
    """What a pair of sites without an explicit link gets."""

    FROM_DISTANCE = "from_distance"  # a link with distance-derived latency
    NONE = "none"  # no link: unreachable (infinite latency)


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km between two points given in decimal degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class NetworkModel:
    """How the scenario fills in latency and bandwidth that no explicit link gives."""

    unlinked_pairs: UnlinkedPairs = UnlinkedPairs.NONE
    route_factor: float = 1.5
    fibre_us_per_km: float = 4.9
    overhead_ms: float = 0.0
    default_bandwidth_gbps: float = 10.0

    def latency_ms_for_km(self, distance_km: float) -> float:
        """Round-trip latency of a fibre path whose great-circle length is `distance_km`."""
        return 2.0 * distance_km * self.route_factor * self.fibre_us_per_km / 1000.0 + self.overhead_ms
