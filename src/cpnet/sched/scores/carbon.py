"""`carbon`: how clean the energy delivered to the chips is at the site, at the intensity in force now.

    score = 1 / (1 + carbon_g_per_kwh x PUE / 500 gCO2/kWh)    range (0, 1]

`carbon_g_per_kwh` is the Snapshot's site value, i.e. the intensity at `now_s` when the scenario
gives a series (cpnet.core.energy). 1 for carbon-free energy, 0.5 at an effective 500 g/kWh.
Strictly decreasing in carbon x PUE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.sched.framework import Network

SCALE_G_PER_KWH = 500.0


@dataclass(frozen=True, slots=True)
class Carbon:
    name: str = "carbon"

    def score(self, spec: JobSpec, site: Site, model: str, rates: Mapping[str, float], net: Network) -> float:
        return 1.0 / (1.0 + site.carbon_g_per_kwh * site.pue / SCALE_G_PER_KWH)
