"""The scenario file schema (version 1), as strict pydantic models.

Strict: YAML types must match (a count is an integer, not "36" or 36.0; a float field accepts
integers). Unknown fields are rejected so that a typo never silently falls back to a default.

Electricity price: give `price_usd_per_kwh`, or `price_cny_per_kwh`, which is converted at
`CNY_PER_USD` (a fixed documented rate, so that a scenario means the same thing every day).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Fixed conversion rate: about the 2023-2025 average of the CNY/USD central parity (7.1-7.3).
CNY_PER_USD = 7.2

SiteId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class SiteSpec(_Strict):
    id: SiteId
    tier: Literal["cloud", "edge", "device"]
    region: str
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)
    inventory: dict[str, Annotated[int, Field(ge=0)]]
    pue: float = Field(ge=1.0, le=5.0)
    price_usd_per_kwh: float | None = Field(default=None, ge=0.0)
    price_cny_per_kwh: float | None = Field(default=None, ge=0.0)
    carbon_g_per_kwh: float = Field(ge=0.0, le=2000.0)
    emulated: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_price(self) -> SiteSpec:
        if (self.price_usd_per_kwh is None) == (self.price_cny_per_kwh is None):
            raise ValueError("give exactly one of price_usd_per_kwh or price_cny_per_kwh")
        return self

    def price_usd(self) -> float:
        if self.price_usd_per_kwh is not None:
            return self.price_usd_per_kwh
        assert self.price_cny_per_kwh is not None  # guaranteed by _one_price
        return self.price_cny_per_kwh / CNY_PER_USD


class LinkSpec(_Strict):
    a: SiteId
    b: SiteId
    latency_ms: float | None = Field(default=None, ge=0.0)
    latency: Literal["from_distance"] | None = None
    bandwidth_gbps: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _one_latency(self) -> LinkSpec:
        if (self.latency_ms is None) == (self.latency is None):
            raise ValueError("give exactly one of latency_ms (a number) or latency: from_distance")
        return self


class TenantSpec(_Strict):
    id: SiteId
    weight: float = Field(gt=0.0)


class NetworkSpec(_Strict):
    unlinked_pairs: Literal["from_distance", "none"] = "none"
    route_factor: float = Field(default=1.5, ge=1.0, le=5.0)
    fibre_us_per_km: float = Field(default=4.9, gt=0.0, le=10.0)
    overhead_ms: float = Field(default=0.0, ge=0.0)
    default_bandwidth_gbps: float = Field(default=10.0, gt=0.0)


class ScenarioSpec(_Strict):
    schema_version: Literal[1]
    name: str = Field(min_length=1)
    description: str = ""
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    sites: list[SiteSpec] = Field(min_length=1)
    links: list[LinkSpec] = Field(default_factory=list)
    tenants: list[TenantSpec] = Field(min_length=1)
