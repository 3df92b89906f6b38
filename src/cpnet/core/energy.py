"""Time-varying electricity price and carbon intensity per site, as step series.

A `Series` holds values at increasing timestamps (Unix seconds, UTC); the value at t is the value of
the last point at or before t (a step function). Before the first point the first value holds.
Beyond the last point the series repeats with period `period_s` (a tariff's day, a year of carbon
data) when one is set, else the last value holds. A flat series (one point) says so in its `label`
(e.g. an annual grid factor, not an hourly measurement).

`EnergySignals` maps simulation time to wall time through `epoch_s` (the Unix time of t = 0 in a
simulation; 0 in the control plane, whose clock is already Unix time) and gives every site's values
in force at a time. The Snapshot carries the values at `now_s` in its `sites` (Site.price_usd_per_kwh
and Site.carbon_g_per_kwh) and the signals themselves (`Snapshot.energy`) as the forecast a
deferring policy may read: the series are taken as a perfect forecast (documented assumption).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from cpnet.core.model import Site


@dataclass(frozen=True, slots=True)
class Series:
    """Step series of one quantity. `times_s` strictly increasing Unix seconds, same length as `values`."""

    times_s: tuple[float, ...]
    values: tuple[float, ...]
    label: str
    period_s: float | None = None
    # cum[i] = integral of the series from times[0] to times[i]; whole-period integral last
    _cum: tuple[float, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        if not self.times_s or len(self.times_s) != len(self.values):
            raise ValueError(f"series '{self.label}': needs as many times as values, at least one")
        if any(b <= a for a, b in zip(self.times_s, self.times_s[1:], strict=False)):
            raise ValueError(f"series '{self.label}': times must be strictly increasing")
        if self.period_s is not None and not self.period_s >= self.times_s[-1] - self.times_s[0]:
            raise ValueError(f"series '{self.label}': period {self.period_s} s is shorter than the span")
        times, values = self.times_s, self.values
        cum = [0.0]
        for i in range(1, len(times)):
            cum.append(cum[-1] + values[i - 1] * (times[i] - times[i - 1]))
        if self.period_s is not None:
            cum.append(cum[-1] + values[-1] * (times[0] + self.period_s - times[-1]))
        object.__setattr__(self, "_cum", tuple(cum))

    @classmethod
    def flat(cls, value: float, label: str) -> Series:
        return cls((0.0,), (float(value),), label)

    @property
    def is_flat(self) -> bool:
        return len(self.values) == 1

    def _cycle(self, t: float, period: float) -> int:
        """The cycle c with t0 + c x period <= t < t0 + (c + 1) x period (0 before the first period ends)."""
        t0 = self.times_s[0]
        c = max(math.floor((t - t0) / period), 0)
        # The division rounds at large Unix times; settle c on the same products the callers use.
        while c > 0 and t0 + c * period > t:
            c -= 1
        while t0 + (c + 1) * period <= t:
            c += 1
        return c

    def at(self, t: float) -> float:
        """The value in force at Unix time `t`."""
        times = self.times_s
        t0, period = times[0], self.period_s
        if period is None or t < t0 + period:
            return self.values[max(bisect_right(times, t) - 1, 0)]
        # Change times of cycle c >= 1 are base + (times[i] - t0), base = t0 + c x period, exactly as
        # next_change_s computes them, so the value at a change time it returns is the new value.
        base = t0 + self._cycle(t, period) * period
        i = bisect_right(times, t0 + (t - base)) - 1
        while i + 1 < len(times) and base + (times[i + 1] - t0) <= t:
            i += 1
        while i > 0 and base + (times[i] - t0) > t:
            i -= 1
        return self.values[i]

    def next_change_s(self, t: float) -> float:
        """The first time after `t` at which the value may change (inf for a flat series); always > t."""
        if self.is_flat:
            return math.inf
        times = self.times_s
        t0, period = times[0], self.period_s
        if period is None:
            i = bisect_right(times, t)
            return times[i] if i < len(times) else math.inf
        if t < t0:
            return t0
        c = self._cycle(t, period)
        if c == 0:
            i = bisect_right(times, t)
            return times[i] if i < len(times) else t0 + period
        base = t0 + c * period
        i = bisect_right(times, t0 + (t - base))
        while i < len(times) and base + (times[i] - t0) <= t:
            i += 1
        while i > 0 and base + (times[i - 1] - t0) > t:
            i -= 1
        return base + (times[i] - t0) if i < len(times) else t0 + (c + 1) * period

    def segments(self, t0: float, t1: float) -> Iterable[tuple[float, float, float]]:
        """(start, end, value) pieces covering [t0, t1), for integrating over a run interval."""
        t = t0
        while t < t1:
            nxt = min(self.next_change_s(t), t1)
            yield t, nxt, self.at(t)
            t = nxt

    def integral(self, t: float) -> float:
        """The integral of the series from times[0] to `t` (negative before it): O(log n) by prefix sums."""
        times, values, cum = self.times_s, self.values, self._cum
        t0, period = times[0], self.period_s
        if t < t0:
            return values[0] * (t - t0)
        whole = 0.0
        if period is not None and t >= t0 + period:
            c = self._cycle(t, period)
            whole = c * cum[-1]
            t -= c * period
        i = max(bisect_right(times, t) - 1, 0)
        return whole + cum[i] + values[i] * (t - times[i])

    def mean(self, t0: float, t1: float) -> float:
        """Time-average over [t0, t1) (the value at t0 when the window is empty)."""
        if t1 <= t0:
            return self.at(t0)
        if self.is_flat:
            return self.values[0]
        return (self.integral(t1) - self.integral(t0)) / (t1 - t0)


@dataclass(frozen=True, slots=True)
class SiteEnergy:
    """A site's price (USD/kWh) and carbon intensity (gCO2/kWh) series; None keeps the Site's static value."""

    price_usd_per_kwh: Series | None = None
    carbon_g_per_kwh: Series | None = None


@dataclass(frozen=True, slots=True)
class EnergySignals:
    """Every site's energy series, with `epoch_s` the Unix time of t = 0 (see the module docstring)."""

    epoch_s: float = 0.0
    sites: Mapping[str, SiteEnergy] = field(default_factory=dict)

    def price_at(self, site: Site, t_s: float) -> float:
        se = self.sites.get(site.id)
        s = se.price_usd_per_kwh if se is not None else None
        return site.price_usd_per_kwh if s is None else s.at(self.epoch_s + t_s)

    def carbon_at(self, site: Site, t_s: float) -> float:
        se = self.sites.get(site.id)
        s = se.carbon_g_per_kwh if se is not None else None
        return site.carbon_g_per_kwh if s is None else s.at(self.epoch_s + t_s)

    def site_at(self, site: Site, t_s: float) -> Site:
        """`site` with the price and carbon intensity in force at time `t_s`."""
        if site.id not in self.sites:
            return site
        price, carbon = self.price_at(site, t_s), self.carbon_at(site, t_s)
        if price == site.price_usd_per_kwh and carbon == site.carbon_g_per_kwh:
            return site
        return replace(site, price_usd_per_kwh=price, carbon_g_per_kwh=carbon)

    def next_change_s(self, t_s: float) -> float:
        """The first time after `t_s` at which any site's value may change (inf when all are flat)."""
        best = math.inf
        w = self.epoch_s + t_s
        for se in self.sites.values():
            for s in (se.price_usd_per_kwh, se.carbon_g_per_kwh):
                if s is not None:
                    best = min(best, s.next_change_s(w))
        return best - self.epoch_s

    def mean_carbon(self, site: Site, t0_s: float, t1_s: float) -> float:
        se = self.sites.get(site.id)
        s = se.carbon_g_per_kwh if se is not None else None
        return site.carbon_g_per_kwh if s is None else s.mean(self.epoch_s + t0_s, self.epoch_s + t1_s)

    def mean_price(self, site: Site, t0_s: float, t1_s: float) -> float:
        se = self.sites.get(site.id)
        s = se.price_usd_per_kwh if se is not None else None
        return site.price_usd_per_kwh if s is None else s.mean(self.epoch_s + t0_s, self.epoch_s + t1_s)
