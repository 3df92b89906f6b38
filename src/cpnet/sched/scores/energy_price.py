"""`energy-price`: how cheap the site's energy is per kWh delivered to the chips.

    score = 1 / (1 + price_usd_per_kwh x PUE / 0.1 USD/kWh)    range (0, 1]

`price_usd_per_kwh` is the Snapshot's site value, i.e. the price at `now_s` when the scenario gives
a series or a time-of-use tariff (cpnet.core.energy). 1 for free energy, 0.5 at an effective
0.1 USD/kWh. Strictly decreasing in price x PUE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import Network

SCALE_USD_PER_KWH = 0.1


@dataclass(frozen=True, slots=True)
class EnergyPrice:
    name: str = "energy-price"

    def score(self, spec: JobSpec, site: Site, model: str, rates: Mapping[str, float], net: Network) -> float:
        return 1.0 / (1.0 + site.price_usd_per_kwh * site.pue / SCALE_USD_PER_KWH)
