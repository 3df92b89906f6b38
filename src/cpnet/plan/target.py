"""Service targets for a capacity plan: `<stat> <metric> < <duration>`, e.g. "p90 queueing < 1h".

    stat:    pNN (a percentile, 0 < NN < 100, nearest rank as cpnet.sim.metrics.percentile) or mean
    metric:  queueing (arrival to first start) or jct (arrival to finish)
    bound:   < or <= a duration: 90s, 30m, 1h, 1.5h, 2d

A job still waiting (or running) when the replay ends counts its time so far (censored at the end),
so an overloaded network cannot look good by never starting its backlog.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cpnet.core.errors import CpnetError
from cpnet.sim.metrics import mean, percentile

_TARGET = re.compile(r"^\s*(p(\d+(?:\.\d+)?)|mean)\s+(queueing|jct)\s*(<=|<)\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class TargetError(CpnetError):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    stat: str  # "mean" or "p90", "p99.9", ...
    metric: str  # queueing | jct
    bound_s: float
    inclusive: bool  # <= rather than <
    text: str

    @classmethod
    def parse(cls, text: str) -> Target:
        m = _TARGET.match(text)
        if m is None:
            raise TargetError(f"target {text!r}: expected '<pNN|mean> <queueing|jct> <|<= <number><s|m|h|d>', e.g. 'p90 queueing < 1h'")
        if m.group(2) is not None and not 0.0 < float(m.group(2)) < 100.0:
            raise TargetError(f"target {text!r}: a percentile is between 0 and 100 (exclusive), got p{m.group(2)}")
        bound = float(m.group(5)) * _UNIT_S[m.group(6).lower()]
        return cls(m.group(1).lower(), m.group(3).lower(), bound, m.group(4) == "<=", " ".join(text.split()))

    def value_s(self, times_s: Sequence[float]) -> float | None:
        """The target's statistic of `times_s` (None for no jobs)."""
        return mean(times_s) if self.stat == "mean" else percentile(times_s, float(self.stat[1:]))

    def met(self, value_s: float | None) -> bool:
        if value_s is None:
            return True
        return value_s <= self.bound_s if self.inclusive else value_s < self.bound_s


def certain_misses(target: Target, jobs: int) -> int | None:
    """How many jobs over the bound make a percentile target certainly missed, whatever the other
    jobs do (None for a mean, whose miss this count cannot decide): the percentile (linear
    interpolation, as cpnet.sim.metrics) is at least its lower rank's value, which is over the
    bound once jobs - floor(q x (jobs - 1)) values are. Infeasible jobs only lower the count needed."""
    if target.stat == "mean" or jobs < 1:
        return None
    q = float(target.stat[1:]) / 100.0
    return jobs - math.floor(q * (jobs - 1))
