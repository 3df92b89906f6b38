"""Request bodies. Limits are part of the contract: a field past its limit is a 422 naming it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Arg = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
EnvKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
EnvValue = Annotated[str, StringConstraints(max_length=4096)]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class JobSubmit(BaseModel):
    """A job as a tenant submits it. The tenant comes from the token, never from the body."""

    model_config = ConfigDict(extra="forbid")

    command: list[Arg] = Field(min_length=1, max_length=256, description="argv; run without a shell")
    accelerator: str | None = Field(None, max_length=64, description="catalog model key, or CPU; any when absent")
    devices: int = Field(1, ge=1, le=4096)
    job_type: str | None = Field(None, max_length=128, description="throughput profile; 'generic' when absent")
    total_steps: float | None = Field(None, gt=0, le=1e15, description="work in steps (scheduler estimate for real jobs)")
    idempotency_key: str | None = Field(None, min_length=1, max_length=128, description="a resubmission with the same key returns the first job")
    priority_weight: float = Field(1.0, gt=0, le=1000)
    env: dict[EnvKey, EnvValue] = Field(default_factory=dict, max_length=64)
    data_site: str | None = Field(None, max_length=64)
    sites: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = Field(None, min_length=1, max_length=256, description="sites the job may run at; any when absent")
    workdir: str | None = Field(None, max_length=4096, pattern=r"^/", description="absolute working directory on the site")

    @field_validator("env")
    @classmethod
    def _no_reserved(cls, env: dict[str, str]) -> dict[str, str]:
        reserved = sorted(k for k in env if k.startswith("CPNET_"))
        if reserved:
            raise ValueError(f"variables starting with CPNET_ are set by cpnet: {', '.join(reserved)}")
        return env


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    weight: float = Field(1.0, gt=0, le=1e6)


class SiteRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Name
    tier: str = Field("edge", pattern=r"^(cloud|edge|device)$")
    region: str = Field("unknown", max_length=64)
    lat: float = Field(0.0, ge=-90, le=90)
    lon: float = Field(0.0, ge=-180, le=180)
    inventory: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Annotated[int, Field(ge=0, le=1_000_000)]] = Field(max_length=64)
    emulated: list[str] = Field(default_factory=list, max_length=64)
    pue: float = Field(1.0, ge=1.0, le=5.0)
    price_usd_per_kwh: float = Field(0.1, ge=0)
    carbon_g_per_kwh: float = Field(500.0, ge=0)
    heartbeat_timeout_s: float | None = Field(60.0, gt=0)


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inventory: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Annotated[int, Field(ge=0, le=1_000_000)]] | None = None
