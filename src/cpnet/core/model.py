"""Static domain objects: accelerators, sites, links, tenants and job specifications."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Tier(StrEnum):
    CLOUD = "cloud"
    EDGE = "edge"
    DEVICE = "device"


class JobKind(StrEnum):
    TRAINING = "training"
    FINE_TUNING = "fine-tuning"
    BATCH_INFERENCE = "batch-inference"
    ONLINE_INFERENCE = "online-inference"


@dataclass(frozen=True, slots=True)
class Accelerator:
    """One accelerator model as its datasheet describes it."""

    model: str  # catalog key, e.g. "V100"
    vendor: str
    peak_fp16_tflops: float | None
    memory_gib: float | None
    memory_bandwidth_gb_s: float | None
    tdp_w: float | None
    source: str
    tier_hint: str = "cloud"  # where this part is usually deployed: cloud, edge or device


@dataclass(frozen=True, slots=True)
class Site:
    """A place with accelerators; `inventory` maps accelerator model to device count."""

    id: str
    tier: Tier
    region: str
    lat: float
    lon: float
    inventory: Mapping[str, int]
    pue: float = 1.0
    price_usd_per_kwh: float = 0.1
    carbon_g_per_kwh: float = 500.0
    emulated: frozenset[str] = frozenset()  # accelerator models that are emulated, not real
    power_cap_kw: float | None = None  # facility draw limit (cpnet.core.power); None: unlimited

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True, slots=True)
class Link:
    """A bidirectional network link between two sites."""

    a: str
    b: str
    latency_ms: float
    bandwidth_gbps: float


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    weight: float = 1.0
    home_site: str | None = None  # where the tenant's data lives when a trace does not say


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a tenant asked for. `total_steps` is the work; speed comes from the throughput table.

    Gang semantics: `num_devices` devices of one accelerator model at one site, or nothing.
    """

    id: str
    tenant: str
    job_type: str  # key into the throughput table, e.g. "ResNet-50 (batch size 64)"
    num_devices: int
    total_steps: float
    arrival_s: float
    kind: JobKind = JobKind.TRAINING
    priority_weight: float = 1.0
    accelerators: frozenset[str] | None = None  # allowed models; None = any
    sites: frozenset[str] | None = None  # allowed sites; None = any
    data_site: str | None = None  # where the input data lives (data gravity)
    data_gb: float = 0.0
    latency_slo_ms: float | None = None  # online inference: max latency to data_site
    deadline_s: float | None = None  # deferrable work: must finish by this time (same clock as arrival_s)
    avoid_sites: frozenset[str] = frozenset()  # used only when no other site can hold the job (lost there)
    checkpoint_interval_s: float | None = None  # the job checkpoints this often while it runs; None: never
    preemptible: bool = False  # spot-like: billed at the tariff's preemptible discount, and preempted before other work
    extra: Mapping[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.id)
