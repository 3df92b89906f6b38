"""`power-headroom`: how much of the site's full-load draw its power cap allows.

    score = min(1, (cap_kw - idle_kw) / (full_kw - idle_kw))     range [0, 1]

idle_kw and full_kw are the site's draw with every device idle and with every device busy
(cpnet.core.power); a site without a cap (or without any TDP known) scores 1. So a site whose cap
never binds scores 1 and one that can run only half its devices at once scores 0.5. Static: the
draw *now* is checked when a job is placed (cpnet.sched.power), not ranked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cpnet.core.model import JobSpec, Site
from cpnet.core.power import busy_increment_kw, idle_draw_kw
from cpnet.sched.framework import Network


@dataclass(frozen=True, slots=True)
class PowerHeadroom:
    name: str = "power-headroom"

    def score(self, spec: JobSpec, site: Site, model: str, rates: Mapping[str, float], net: Network) -> float:
        cap = site.power_cap_kw
        if cap is None:
            return 1.0
        span = sum(busy_increment_kw(site, m, n, net.catalog) for m, n in site.inventory.items())
        if span <= 0:
            return 1.0
        return max(0.0, min(1.0, (cap - idle_draw_kw(site, net.catalog)) / span))
