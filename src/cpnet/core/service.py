"""The inference-service model: what a service asks of the network, and its users' request rates.

A `Service` is a named model server replicated over the network. Each replica is `devices_per_replica`
devices of one allowed accelerator model at one site; one replica on model m serves
`service_rate_rps[m]` requests per second (mu, from a serving profile: `work_profile` names which).
Users sit in regions, each with a request-rate series (`RateSeries`, a step function of time). The
SLO is the p99 end-to-end latency in ms (RTT + queueing + service, cpnet.core.latency); the total
replica count stays within [min_replicas, max_replicas]; `residency_region`, when set, keeps every
replica at a site of that region (data residency).

A `Pool` is a candidate place for replicas: one accelerator model at one site, with its free
devices. cpnet.sched.autoscale sizes pools; cpnet.sched.steering routes each region's requests
over them.

Diurnal load (`diurnal_rate`) is a raised cosine over the local day:

    h    = (t_s / 3600 + utc_offset_h) mod 24                the local clock hour at UTC time t_s
    A    = (r - 1) / (r + 1)                                 r = peak_to_trough >= 1
    rate = mean_rps x (1 + A cos(2 pi (h - peak_hour) / 24))

so rate_max / rate_min = (1 + A) / (1 - A) = r exactly, the peak falls at local hour `peak_hour`
(the trough 12 h later), and the mean over any whole day is mean_rps exactly (the cosine
integrates to 0).

Validation errors raise `ServiceError` (a CpnetError) naming the field; which file and line a
service came from is the loader's business, not this module's.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cpnet.core.errors import CpnetError, UnknownNameError
from cpnet.core.paths import Paths

SLO_QUANTILE = 0.99  # the SLO is a p99
SECONDS_PER_DAY = 86_400.0


class ServiceError(CpnetError):
    """A service or rate series that breaks a rule; `field` names the offending field."""

    def __init__(self, field: str, problem: str, *, service: str | None = None) -> None:
        where = f"service '{service}', field '{field}'" if service is not None else f"rate series, field '{field}'"
        super().__init__(f"{where}: {problem}")
        self.service = service
        self.field = field
        self.problem = problem


def _finite_nonnegative(value: float) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and value >= 0


@dataclass(frozen=True, slots=True)
class RateSeries:
    """Requests per second as a step function: `rates_rps[i]` holds from `timestamps_s[i]` until the next timestamp.

    Before the first timestamp the first rate holds (a forecast's first value is the best guess of
    the recent past too); after the last, the last rate holds.
    """

    timestamps_s: tuple[float, ...]
    rates_rps: tuple[float, ...]

    def __post_init__(self) -> None:
        # accept lists from callers, store tuples so the series stays immutable
        object.__setattr__(self, "timestamps_s", tuple(self.timestamps_s))
        object.__setattr__(self, "rates_rps", tuple(self.rates_rps))
        if not self.timestamps_s:
            raise ServiceError("timestamps_s", "needs at least one point")
        if len(self.timestamps_s) != len(self.rates_rps):
            raise ServiceError("rates_rps", f"{len(self.rates_rps)} rates for {len(self.timestamps_s)} timestamps; expected one rate per timestamp")
        for i, t in enumerate(self.timestamps_s):
            if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
                raise ServiceError("timestamps_s", f"point {i}: {t!r} is not a finite number of seconds")
            if i and t <= self.timestamps_s[i - 1]:
                raise ServiceError("timestamps_s", f"point {i}: {t} s is not after {self.timestamps_s[i - 1]} s; expected strictly increasing times")
        for i, r in enumerate(self.rates_rps):
            if not _finite_nonnegative(r):
                raise ServiceError("rates_rps", f"point {i}: {r!r} is not a finite number >= 0 requests/s")

    @classmethod
    def constant(cls, rate_rps: float) -> RateSeries:
        """The same rate at all times."""
        return cls((0.0,), (rate_rps,))

    @classmethod
    def sampled(cls, rate_at: Callable[[float], float], start_s: float, stop_s: float, step_s: float) -> RateSeries:
        """`rate_at` sampled at start_s, start_s + step_s, ... (< stop_s), each value held for one step."""
        if not (step_s > 0 and math.isfinite(step_s)):
            raise ServiceError("step_s", f"must be a finite number > 0 seconds, got {step_s}")
        if not stop_s > start_s:
            raise ServiceError("stop_s", f"{stop_s} s is not after start_s {start_s} s")
        count = math.ceil((stop_s - start_s) / step_s)
        times = tuple(start_s + i * step_s for i in range(count))
        return cls(times, tuple(rate_at(t) for t in times))

    def value_at(self, t_s: float) -> float:
        """The rate in force at `t_s` (the last point at or before it; the first point before the series starts)."""
        i = bisect.bisect_right(self.timestamps_s, t_s) - 1
        return self.rates_rps[max(i, 0)]


def diurnal_rate(t_s: float, mean_rps: float, peak_to_trough: float, peak_hour_utc: float, utc_offset_h: float = 0) -> float:
    """Raised-cosine daily load: mean_rps x (1 + A cos(2 pi (h - peak_hour_utc) / 24)), A = (r - 1) / (r + 1).

    `t_s` is seconds since a UTC midnight (Unix time works). h = (t_s / 3600 + utc_offset_h) mod 24 is
    the hour on the users' local clock (UTC + utc_offset_h). `peak_hour_utc` is the peak's hour on
    that clock: with the default offset 0 it is a UTC hour; a region at UTC+8 with
    peak_hour_utc = 20 peaks at 20:00 local, 12:00 UTC. Max/min = peak_to_trough exactly, the daily
    mean = mean_rps exactly, the trough is 12 h after the peak.
    """
    if not _finite_nonnegative(mean_rps):
        raise ServiceError("mean_rps", f"must be a finite number >= 0 requests/s, got {mean_rps!r}")
    if not (math.isfinite(peak_to_trough) and peak_to_trough >= 1):
        raise ServiceError("peak_to_trough", f"must be a finite number >= 1 (1: flat), got {peak_to_trough!r}")
    if not (math.isfinite(peak_hour_utc) and math.isfinite(utc_offset_h) and math.isfinite(t_s)):
        raise ServiceError("peak_hour_utc", f"t_s, peak_hour_utc and utc_offset_h must be finite, got {t_s!r}, {peak_hour_utc!r}, {utc_offset_h!r}")
    amplitude = (peak_to_trough - 1) / (peak_to_trough + 1)
    local_hour = (t_s / 3600.0 + utc_offset_h) % 24.0
    return mean_rps * (1 + amplitude * math.cos(2 * math.pi * (local_hour - peak_hour_utc) / 24.0))


@dataclass(frozen=True, slots=True)
class Pool:
    """A candidate place for replicas: accelerator `model` at `site` (in `region`), `free_devices` of it free."""

    site: str
    region: str
    model: str
    free_devices: int

    def __post_init__(self) -> None:
        if isinstance(self.free_devices, bool) or not isinstance(self.free_devices, int) or self.free_devices < 0:
            raise CpnetError(f"pool {self.site}/{self.model}: free_devices must be an integer >= 0, got {self.free_devices!r}")

    @property
    def key(self) -> tuple[str, str]:
        """(site, model): a pool's identity; two pools of one service never share it."""
        return (self.site, self.model)

    @property
    def label(self) -> str:
        return f"{self.site}/{self.model}"


@dataclass(frozen=True, slots=True)
class Service:
    """An inference service: replica shape, per-model service rate, users' demand, p99 SLO and bounds."""

    name: str
    accelerators: frozenset[str]  # allowed accelerator models (catalog keys) for a replica
    devices_per_replica: int
    service_rate_rps: Mapping[str, float]  # model key -> requests/s one replica serves (mu)
    demand: Mapping[str, RateSeries]  # users' region -> request-rate series
    slo_p99_ms: float
    min_replicas: int = 1
    max_replicas: int | None = None  # None: no upper bound besides free devices
    residency_region: str | None = None  # replicas only at sites of this region
    work_profile: str = ""  # which serving profile the rates come from (e.g. "llm/llama2-70b-99/Server")

    def __post_init__(self) -> None:
        def fail(field_name: str, problem: str) -> ServiceError:
            return ServiceError(field_name, problem, service=self.name or "(unnamed)")

        if not isinstance(self.name, str) or not self.name.strip():
            raise fail("name", "must be a non-empty string")
        object.__setattr__(self, "accelerators", frozenset(self.accelerators))
        # copy the mappings so a caller mutating its dict cannot change a frozen service
        object.__setattr__(self, "service_rate_rps", dict(self.service_rate_rps))
        object.__setattr__(self, "demand", dict(self.demand))
        if not self.accelerators:
            raise fail("accelerators", "needs at least one allowed accelerator model")
        d = self.devices_per_replica
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise fail("devices_per_replica", f"must be an integer >= 1, got {d!r}")
        for model in sorted(self.accelerators):
            if model not in self.service_rate_rps:
                raise fail("service_rate_rps", f"no rate for allowed model '{model}'; expected one per model in accelerators")
        for model, mu in self.service_rate_rps.items():
            if not (_finite_nonnegative(mu) and mu > 0):
                raise fail("service_rate_rps", f"model '{model}': {mu!r} is not a finite number > 0 requests/s")
        for region, series in self.demand.items():
            if not isinstance(series, RateSeries):
                raise fail("demand", f"region '{region}': expected a RateSeries, got {type(series).__name__}")
        slo = self.slo_p99_ms
        if not (_finite_nonnegative(slo) and slo > 0):
            raise fail("slo_p99_ms", f"must be a finite number > 0 ms, got {slo!r}")
        lo, hi = self.min_replicas, self.max_replicas
        if isinstance(lo, bool) or not isinstance(lo, int) or lo < 0:
            raise fail("min_replicas", f"must be an integer >= 0, got {lo!r}")
        if hi is not None:
            if isinstance(hi, bool) or not isinstance(hi, int) or hi < 1:
                raise fail("max_replicas", f"must be an integer >= 1 or absent, got {hi!r}")
            if lo > hi:
                raise fail("min_replicas", f"{lo} > max_replicas {hi}; expected min_replicas <= max_replicas")
        if self.residency_region is not None and (not isinstance(self.residency_region, str) or not self.residency_region):
            raise fail("residency_region", f"must be a non-empty region name or absent, got {self.residency_region!r}")

    def __hash__(self) -> int:
        # the mappings are unhashable; a service's name is its identity
        return hash(self.name)

    def rates_at(self, t_s: float) -> dict[str, float]:
        """Each region's request rate at `t_s`, requests/s."""
        return {region: series.value_at(t_s) for region, series in self.demand.items()}

    def check_names(self, models: Iterable[str], regions: Iterable[str]) -> None:
        """Raise UnknownNameError for an allowed model not among `models` or a residency region not among `regions`."""
        known_models = set(models)
        for model in sorted(self.accelerators):
            if model not in known_models:
                raise UnknownNameError(f"accelerator model (service '{self.name}', field 'accelerators')", model, known_models)
        known_regions = set(regions)
        if self.residency_region is not None and self.residency_region not in known_regions:
            raise UnknownNameError(f"region (service '{self.name}', field 'residency_region')", self.residency_region, known_regions)

    def allows(self, pool: Pool) -> str | None:
        """None when replicas may go to `pool`; else why not (model, residency, free devices)."""
        if pool.model not in self.accelerators:
            return f"model {pool.model} not allowed"
        if self.residency_region is not None and pool.region != self.residency_region:
            return f"outside residency region {self.residency_region}"
        if pool.free_devices < self.devices_per_replica:
            return f"{pool.free_devices} free devices < {self.devices_per_replica} per replica"
        return None


def rtt_by_region(paths: Paths, access_site: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Region -> site -> RTT ms, taking each users' region to enter the network at `access_site[region]`.

    Sites unreachable from the access site are left out (the schedulers read a missing entry as inf).
    """
    table: dict[str, dict[str, float]] = {}
    for region, site in access_site.items():
        table[region] = {other: ms for other, ms in paths.latency_ms.get(site, {}).items() if math.isfinite(ms)}
    return table
