"""Tariffs: what an hour of a device costs, as a utility prices it.

    amount_usd = compute_usd + energy_usd + carbon_usd
    compute_usd = sum over time-of-use segments of devices x hours x rate(site, model) x multiplier(segment)
                  x (1 - preemptible_discount if the work was preemptible)
    energy_usd  = kWh (facility, PUE included) x the site's mean electricity price over the run   (pass-through)
    carbon_usd  = kgCO2 x carbon_usd_per_kg                                                        (surcharge)

Time-of-use periods are hours of the UTC day [start_hour, end_hour) with a multiplier; an hour in
no period is at 1x. A rate is looked up by (site, model), then (any site, model), then the
tariff's `default_usd_per_device_hour`.

Reference prices (DEFAULT_TARIFF): AWS EC2 on-demand list prices, us-east-1, per GPU (instance
price / GPUs), as published at aws.amazon.com/ec2/pricing/on-demand (2024): p3.2xlarge (1x V100)
3.06 USD/h; p4d.24xlarge (8x A100 40 GB) 32.77 USD/h -> 4.10; g4dn.xlarge (1x T4) 0.526 USD/h;
p2.xlarge (1x K80) 0.90 USD/h. Every other model is an assumption: the V100 price times the
model's compute-unit rate (cpnet.catalog.compute_units), which is how `rates_by_cu` fills them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cpnet.core.errors import CpnetError

ANY_SITE = "*"


@dataclass(frozen=True, slots=True)
class TimeOfUse:
    """Hours [start_hour, end_hour) of the UTC day at `multiplier` x the rate (end < start wraps midnight)."""

    start_hour: int
    end_hour: int
    multiplier: float

    def __post_init__(self) -> None:
        if not (0 <= self.start_hour < 24 and 0 <= self.end_hour <= 24) or self.start_hour == self.end_hour:
            raise CpnetError(f"time-of-use period {self.start_hour}-{self.end_hour}: hours must be 0-24 and differ")
        if self.multiplier < 0:
            raise CpnetError(f"time-of-use multiplier {self.multiplier} is negative")

    def covers(self, hour: int) -> bool:
        if self.start_hour < self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour


@dataclass(frozen=True, slots=True)
class Charge:
    compute_usd: float
    energy_usd: float
    carbon_usd: float

    @property
    def amount_usd(self) -> float:
        return self.compute_usd + self.energy_usd + self.carbon_usd


@dataclass(frozen=True, slots=True)
class Tariff:
    """Prices per device-hour by (site, model) with time-of-use, a preemptible discount, energy pass-through and a carbon surcharge."""

    version: str
    rates: Mapping[tuple[str, str], float]  # (site or ANY_SITE, model) -> USD per device-hour at 1x
    default_usd_per_device_hour: float
    periods: tuple[TimeOfUse, ...] = ()
    preemptible_discount: float = 0.0  # fraction off compute for work that may be preempted
    energy_pass_through: bool = True
    carbon_usd_per_kg: float = 0.0
    sources: Mapping[str, str] = field(default_factory=dict)  # model -> where its price comes from

    def __post_init__(self) -> None:
        if not 0.0 <= self.preemptible_discount <= 1.0:
            raise CpnetError(f"tariff {self.version}: preemptible_discount {self.preemptible_discount} must be within 0-1")
        bad = sorted(f"{s}/{m}" for (s, m), r in self.rates.items() if r < 0)
        if bad or self.default_usd_per_device_hour < 0 or self.carbon_usd_per_kg < 0:
            raise CpnetError(f"tariff {self.version}: prices must not be negative ({', '.join(bad) or 'default or carbon'})")

    def rate(self, site: str, model: str) -> float:
        r = self.rates.get((site, model))
        if r is None:
            r = self.rates.get((ANY_SITE, model), self.default_usd_per_device_hour)
        return r

    def multiplier(self, hour: int) -> float:
        for p in self.periods:
            if p.covers(hour):
                return p.multiplier
        return 1.0

    def compute_usd(self, site: str, model: str, num_devices: int, start_s: float, end_s: float, *, preemptible: bool = False) -> float:
        """Devices held over [start_s, end_s) (epoch seconds), split at UTC hour boundaries for time of use."""
        rate = self.rate(site, model) * num_devices / 3600.0
        total = 0.0
        t = start_s
        while t < end_s:
            hour_start = (t // 3600.0) * 3600.0
            seg_end = min(end_s, hour_start + 3600.0)
            total += (seg_end - t) * self.multiplier(int(hour_start // 3600.0) % 24)
            t = seg_end
        off = self.preemptible_discount if preemptible else 0.0
        return rate * total * (1.0 - off)

    def charge(
        self,
        site: str,
        model: str,
        num_devices: int,
        start_s: float,
        end_s: float,
        *,
        energy_kwh: float,
        price_usd_per_kwh: float,
        kg_co2: float,
        preemptible: bool = False,
    ) -> Charge:
        compute = self.compute_usd(site, model, num_devices, start_s, end_s, preemptible=preemptible)
        energy = energy_kwh * price_usd_per_kwh if self.energy_pass_through else 0.0
        return Charge(compute, energy, kg_co2 * self.carbon_usd_per_kg)


# Per-GPU on-demand list prices (see the module docstring for the instances and the page).
LIST_PRICES_USD_PER_HOUR: Mapping[str, float] = {"V100": 3.06, "A100": 32.77 / 8, "T4": 0.526, "K80": 0.90}
LIST_PRICE_SOURCE = "AWS EC2 on-demand list price, us-east-1 (2024), instance price / GPUs"


def rates_by_cu(cu_rates: Mapping[str, float | None], reference_usd_per_hour: float = LIST_PRICES_USD_PER_HOUR["V100"]) -> dict[str, float]:
    """Assumed prices of models without a list price: the reference (V100) price x the model's CU rate."""
    return {m: reference_usd_per_hour * r for m, r in cu_rates.items() if r is not None and m not in LIST_PRICES_USD_PER_HOUR}


def default_tariff(cu_rates: Mapping[str, float | None]) -> Tariff:
    """List prices where published, CU-scaled assumptions elsewhere; night (22-06 UTC) at 0.7x,
    preemptible work 60 % off (spot-like), energy passed through, carbon at 0.05 USD/kg (assumed)."""
    assumed = rates_by_cu(cu_rates)
    rates = {(ANY_SITE, m): p for m, p in {**assumed, **LIST_PRICES_USD_PER_HOUR}.items()}
    sources = {m: LIST_PRICE_SOURCE for m in LIST_PRICES_USD_PER_HOUR} | {m: "assumption: V100 list price x CU rate" for m in assumed}
    return Tariff(
        version="default-2026.1",
        rates=rates,
        default_usd_per_device_hour=LIST_PRICES_USD_PER_HOUR["V100"],
        periods=(TimeOfUse(22, 6, 0.7),),
        preemptible_discount=0.6,
        energy_pass_through=True,
        carbon_usd_per_kg=0.05,
        sources=sources,
    )
