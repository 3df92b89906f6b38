"""The scenario file schema (version 1), as strict pydantic models.

Strict: YAML types must match (a count is an integer, not "36" or 36.0; a float field accepts
integers). Unknown fields are rejected so that a typo never silently falls back to a default.

Electricity price: give `price_usd_per_kwh`, or `price_cny_per_kwh`, which is converted at
`CNY_PER_USD` (a fixed documented rate, so that a scenario means the same thing every day).

Energy signals (all optional, so files written before them still load):

* `epoch`: ISO-8601 date-time of simulation t = 0 (an offset-less value is UTC); default
  DEFAULT_EPOCH, 2024-01-01T00:00:00+08:00 (midnight in China, where the tariffs' year starts).
* per site, price: `price_series` (a CSV file, values x scale in USD/kWh) or `tariff` (a Chinese
  provincial TOU tariff, cpnet.scenario.tariff, whose flat-period price is the site's price);
  carbon: `carbon_series` (a CSV file, values x scale in gCO2/kWh) or `carbon_annual` (the site's
  carbon_g_per_kwh checked against, and labelled as, an MEE annual provincial factor).
  Series file paths are relative to the scenario file's directory (cpnet.scenario.series_file).
* per site `power_cap_kw` (cpnet.core.power), per tenant `home_site` (a site id of this file).

Compute tariff (optional, `compute_tariff`): the version each bill names, rates per device-hour
by model (and optionally site), time-of-use periods (UTC hours), a preemptible discount, energy
pass-through and a carbon surcharge (cpnet.core.tariff); what it leaves out comes from the default
tariff (cited list prices, CU-scaled assumptions elsewhere).

Tenant tree (cpnet.core.tenancy), also optional: an entry of `tenants:` may be an org or a team
(`kind: org | team`, default `tenant`) and may name its `parent` (an org or team of the list), so
that the list is the tree, one node per entry; a tenant without a parent is an org of one (the
old flat form). Any node may declare `quota_cu_s`, `family_quota_cu_s` (vendor -> CU/s),
`borrowing_limit_cu_s`, `lending_limit_cu_s` and a `budget` ({amount, unit: cu | usd, period:
day | week | month}).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

# Fixed conversion rate: about the 2023-2025 average of the CNY/USD central parity (7.1-7.3).
CNY_PER_USD = 7.2

# Default simulation epoch: the start of 2024 in China (UTC+8), where the TOU tariffs' year starts.
DEFAULT_EPOCH = "2024-01-01T00:00:00+08:00"

SiteId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
UtcOffset = Annotated[str, StringConstraints(pattern=r"^[+-](0\d|1[0-4]):[0-5]\d$")]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class SeriesFileSpec(_Strict):
    """A CSV series file (cpnet.scenario.series_file); `path` relative to the scenario file's directory."""

    path: str = Field(min_length=1)
    time_column: str | None = None
    value_column: str | None = None
    scale: float = Field(default=1.0, gt=0.0)
    utc_offset: UtcOffset | None = None  # of timestamps written without one, e.g. "+08:00"; default UTC
    max_step_s: float | None = Field(default=None, gt=0.0)  # largest step accepted; default 1.5 x median step

    def utc_offset_s(self) -> float:
        if self.utc_offset is None:
            return 0.0
        sign = -1.0 if self.utc_offset.startswith("-") else 1.0
        hours, minutes = self.utc_offset[1:].split(":")
        return sign * (int(hours) * 3600 + int(minutes) * 60)


class TariffSpec(_Strict):
    """A provincial TOU tariff (cpnet.scenario.tariff); the site's price is its flat-period price."""

    province: str = Field(min_length=1)  # province_en of the tariff file, e.g. "Hebei"
    grid_area: str | None = None  # needed where a province has two (Hebei, Inner Mongolia), e.g. "North Hebei"
    fallback_peak_vs_flat: float | None = Field(default=None, gt=0.0)  # used only where the file's ratio is blank
    fallback_valley_vs_flat: float | None = Field(default=None, gt=0.0)
    file: str | None = None  # another tariff CSV, relative to the scenario file; default the bundled copy


class CarbonAnnualSpec(_Strict):
    """`carbon_g_per_kwh` is this MEE/NBS annual provincial factor (cpnet.scenario.grid_factors)."""

    province: str = Field(min_length=1)
    year: int = Field(ge=2000, le=2100)


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
    power_cap_kw: float | None = Field(default=None, gt=0.0)
    price_series: SeriesFileSpec | None = None
    tariff: TariffSpec | None = None
    carbon_series: SeriesFileSpec | None = None
    carbon_annual: CarbonAnnualSpec | None = None

    @model_validator(mode="after")
    def _one_price(self) -> SiteSpec:
        if (self.price_usd_per_kwh is None) == (self.price_cny_per_kwh is None):
            raise ValueError("give exactly one of price_usd_per_kwh or price_cny_per_kwh")
        if self.price_series is not None and self.tariff is not None:
            raise ValueError("give at most one of price_series or tariff")
        if self.carbon_series is not None and self.carbon_annual is not None:
            raise ValueError("give at most one of carbon_series or carbon_annual")
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


class BudgetSpec(_Strict):
    amount: float = Field(gt=0.0)  # CU x s, or USD
    unit: Literal["cu", "usd"]
    period: Literal["day", "week", "month"]


class TenantSpec(_Strict):
    """An org, a team or a tenant of the tenant tree (cpnet.core.tenancy)."""

    id: SiteId
    kind: Literal["org", "team", "tenant"] = "tenant"
    parent: SiteId | None = None  # an org or team id of this file
    weight: float = Field(gt=0.0)
    home_site: SiteId | None = None  # where the tenant's data lives; a site id of this file
    quota_cu_s: float | None = Field(default=None, ge=0.0)
    family_quota_cu_s: dict[str, Annotated[float, Field(ge=0.0)]] = Field(default_factory=dict)  # vendor -> CU/s
    borrowing_limit_cu_s: float | None = Field(default=None, ge=0.0)
    lending_limit_cu_s: float | None = Field(default=None, ge=0.0)
    budget: BudgetSpec | None = None


class RateSpec(_Strict):
    model: str = Field(min_length=1)
    site: str = "*"  # a site id of this file, or "*": every site
    usd_per_device_hour: float = Field(ge=0.0)


class TimeOfUseSpec(_Strict):
    start_hour: int = Field(ge=0, le=23)  # UTC hours [start_hour, end_hour); end < start wraps midnight
    end_hour: int = Field(ge=0, le=24)
    multiplier: float = Field(ge=0.0)


class ComputeTariffSpec(_Strict):
    """What a device-hour costs (cpnet.core.tariff.Tariff); rates not given come from the default tariff."""

    version: str = Field(min_length=1, max_length=64)  # each bill names it
    rates: list[RateSpec] = Field(default_factory=list)
    default_usd_per_device_hour: float | None = Field(default=None, ge=0.0)
    time_of_use: list[TimeOfUseSpec] | None = None  # None: the default tariff's (night 22-06 UTC at 0.7x)
    preemptible_discount: float | None = Field(default=None, ge=0.0, le=1.0)
    energy_pass_through: bool | None = None
    carbon_usd_per_kg: float | None = Field(default=None, ge=0.0)


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
    epoch: str = DEFAULT_EPOCH
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    sites: list[SiteSpec] = Field(min_length=1)
    links: list[LinkSpec] = Field(default_factory=list)
    tenants: list[TenantSpec] = Field(min_length=1)
    compute_tariff: ComputeTariffSpec | None = None

    @field_validator("epoch", mode="before")
    @classmethod
    def _epoch_text(cls, value: Any) -> Any:
        # YAML reads an unquoted 2020-01-01T00:00:00Z as a datetime (and 2020-01-01 as a date).
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, date):
            raise ValueError(f"epoch {value.isoformat()} is a date; expected an ISO-8601 date-time such as {value.isoformat()}T00:00:00Z")
        return value

    @field_validator("epoch")
    @classmethod
    def _epoch_parses(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"epoch {value!r} is not an ISO-8601 date-time (e.g. 2020-01-01T00:00:00Z)") from None
        return value

    def epoch_s(self) -> float:
        """Unix time of simulation t = 0 (an offset-less epoch is UTC)."""
        dt = datetime.fromisoformat(self.epoch)
        return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).timestamp()
