"""Service files (YAML): one inference service (cpnet.core.service.Service) on a scenario's network.

    name: chat-llm
    accelerators: [H100, A100]          # models a replica may use (catalog keys)
    devices_per_replica: 1
    service_rate_rps: {H100: 4.0, A100: 2.0}   # requests/s one replica serves, per model
    slo_p99_ms: 800                     # end to end: RTT + queueing + service time
    min_replicas: 1
    max_replicas: 16
    residency_region: North China       # optional: replicas only at sites of this region
    regions:                            # where the users are, and how many requests/s they send
      - {region: North China, rps: 20}
      - region: Yangtze River Delta
        access_site: edge-shanghai      # where its users enter the network (default: the region's first edge site)
        diurnal: {mean_rps: 30, peak_to_trough: 5, peak_hour: 20, utc_offset_h: 8}

Every problem is one InputError naming the file, the line and the field: unknown fields, a region or
access site the scenario does not have, a model no site of it holds, min_replicas > max_replicas,
and an SLO that no site can meet because the network's round trip from the users' region to every
site allowed already takes the SLO or more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cpnet.core.errors import InputError
from cpnet.core.paths import Paths
from cpnet.core.service import RateSeries, Service, diurnal_rate
from cpnet.scenario.scenario import Scenario
from cpnet.scenario.yaml_source import YamlDocument, format_loc, parse_yaml, validation_error

HOUR_S = 3600.0


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class DiurnalSpec(_Strict):
    mean_rps: float = Field(ge=0)
    peak_to_trough: float = Field(ge=1)
    peak_hour: float = Field(ge=0, lt=24)  # on the users' local clock
    utc_offset_h: float = Field(0.0, ge=-12, le=14)


class RegionSpec(_Strict):
    region: str = Field(min_length=1)
    access_site: str | None = None
    rps: float | None = Field(None, ge=0)
    diurnal: DiurnalSpec | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> RegionSpec:
        if (self.rps is None) == (self.diurnal is None):
            raise ValueError("give exactly one of rps (a constant rate) or diurnal")
        return self


class ServiceSpec(_Strict):
    name: str = Field(min_length=1, max_length=64)
    accelerators: list[str] = Field(min_length=1)
    devices_per_replica: int = Field(1, ge=1)
    service_rate_rps: dict[str, float]
    slo_p99_ms: float = Field(gt=0)
    min_replicas: int = Field(1, ge=0)
    max_replicas: int | None = Field(None, ge=1)
    residency_region: str | None = None
    regions: list[RegionSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _bounds(self) -> ServiceSpec:
        if self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} > max_replicas {self.max_replicas}; expected min_replicas <= max_replicas")
        missing = sorted(set(self.accelerators) - set(self.service_rate_rps))
        if missing:
            raise ValueError(f"service_rate_rps has no rate for {', '.join(missing)}; give one per model in accelerators")
        return self


@dataclass(frozen=True, slots=True)
class ServiceFile:
    service: Service
    access_site: dict[str, str]  # users' region -> the site where they enter the network


def load_service_file(path: str, scenario: Scenario) -> ServiceFile:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "file not found; expected a service YAML file (see `cpnet service plan --help`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read it as UTF-8 text ({exc})") from None
    doc = parse_yaml(text, path)
    if not isinstance(doc.data, dict):
        raise InputError(path, "expected a YAML mapping with name, accelerators, service_rate_rps, slo_p99_ms and regions", line=1)
    try:
        spec = ServiceSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_error(doc, exc, lambda loc: list((RegionSpec if "regions" in loc else ServiceSpec).model_fields)) from None
    return _build(doc, spec, scenario)


def _diurnal(d: DiurnalSpec, t_s: float) -> float:
    return diurnal_rate(t_s, d.mean_rps, d.peak_to_trough, d.peak_hour, d.utc_offset_h)


def _fail(doc: YamlDocument, loc: tuple[str | int, ...], problem: str) -> InputError:
    return InputError(doc.path, problem, line=doc.line_of(loc), field=format_loc(loc))


def _build(doc: YamlDocument, spec: ServiceSpec, scenario: Scenario) -> ServiceFile:
    regions = {s.region for s in scenario.sites}
    models = {m for s in scenario.sites for m, n in s.inventory.items() if n > 0}
    for i, model in enumerate(spec.accelerators):
        if model not in models:
            raise _fail(doc, ("accelerators", i), f"no site of scenario '{scenario.name}' has '{model}'; its models: {', '.join(sorted(models))}")
    if spec.residency_region is not None and spec.residency_region not in regions:
        raise _fail(doc, ("residency_region",), f"unknown region '{spec.residency_region}'; the scenario's regions: {', '.join(sorted(regions))}")
    paths = Paths.build([s.id for s in scenario.sites], scenario.network_links())
    hosts = [s for s in scenario.sites if any(s.inventory.get(m, 0) > 0 for m in spec.accelerators)]
    if spec.residency_region is not None:
        hosts = [s for s in hosts if s.region == spec.residency_region]
    access: dict[str, str] = {}
    demand: dict[str, RateSeries] = {}
    for i, r in enumerate(spec.regions):
        if r.region not in regions:
            raise _fail(doc, ("regions", i, "region"), f"unknown region '{r.region}'; the scenario's regions: {', '.join(sorted(regions))}")
        # users enter the network at the edge: the region's edge sites first, then its device and cloud sites, by id
        rank = {"edge": 0, "device": 1, "cloud": 2}
        in_region = [s.id for s in sorted((s for s in scenario.sites if s.region == r.region), key=lambda s: (rank.get(s.tier.value, 3), s.id))]
        site = r.access_site or in_region[0]
        if site not in {s.id for s in scenario.sites}:
            raise _fail(doc, ("regions", i, "access_site"), f"unknown site '{site}'; sites of {r.region}: {', '.join(in_region)}")
        best = min((paths.latency(site, h.id) for h in hosts), default=math.inf)
        if best >= spec.slo_p99_ms:
            raise _fail(
                doc,
                ("slo_p99_ms",),
                f"{spec.slo_p99_ms:g} ms cannot be met for users in {r.region}: the round trip from {site} to the nearest site allowed "
                + ("takes " + f"{best:.1f} ms" if math.isfinite(best) else "does not exist (no route)"),
            )
        access[r.region] = site
        if r.rps is not None:
            demand[r.region] = RateSeries.constant(r.rps)
        else:
            assert r.diurnal is not None  # _one_rate
            demand[r.region] = RateSeries.sampled(partial(_diurnal, r.diurnal), 0.0, 86400.0, HOUR_S)
    service = Service(
        spec.name,
        frozenset(spec.accelerators),
        spec.devices_per_replica,
        dict(spec.service_rate_rps),
        demand,
        spec.slo_p99_ms,
        spec.min_replicas,
        spec.max_replicas,
        spec.residency_region,
    )
    return ServiceFile(service, access)
