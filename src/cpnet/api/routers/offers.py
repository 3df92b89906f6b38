"""`GET /v1/offers` (any token): what the network offers now, per site and accelerator model.

Each offer: the site's tier, region and state; the model's devices in total and free now (0 at a
site that is not up); its compute-unit rate (`cpnet.catalog.compute_units`: V100 device-seconds
per device-second, the model's default over job types; None when the table has no throughput for
it); the site's energy price and carbon intensity now (the scenario's series where it has them,
as `GET /v1/dashboard/network` shows them: both come from `cpnet.api.network_now`); the price of
one device-hour's energy,

    energy_usd_per_device_hour = TDP_kW x PUE x price_usd_per_kwh

(energy only: a device at full TDP, the facility overhead by PUE; None for a model without a TDP);
what the compute tariff (the scenario's `compute_tariff`, else cpnet.core.tariff's default; its
`tariff_version` is in the answer) charges for a device-hour now, time of use included, and that
price for preemptible work (its discount applied); and with
`from`, the round-trip time in ms from there over the network's links (`cpnet.core.paths`: the
minimum-latency path; a Link's latency is the round trip). `from` is a site id or a region: from
a region, the RTT is that of its nearest site (0 at every site of the region itself). None:
unreachable.

Sort keys (ties by site, then model): price (energy per device-hour, lowest first), carbon
(lowest first), free (most first), latency (lowest first; needs `from`), cu (highest first);
unknown values last.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query

from cpnet.api.app import ApiError, Services
from cpnet.api.deps import Caller, Svc
from cpnet.api.network_now import SiteNow, sites_now
from cpnet.api.openapi import errors
from cpnet.catalog.compute_units import REFERENCE_MODEL, shipped_units, units_of
from cpnet.catalog.throughput import ThroughputModel
from cpnet.core.errors import UnknownNameError
from cpnet.core.paths import Paths
from cpnet.core.states import SiteState
from cpnet.core.tariff import default_tariff

router = APIRouter(prefix="/v1/offers", tags=["offers"])


class OfferSort(StrEnum):
    PRICE = "price"
    CARBON = "carbon"
    FREE = "free"
    LATENCY = "latency"
    CU = "cu"


ENERGY_NOTE = (
    "energy_usd_per_device_hour: energy only, TDP x PUE x energy price now; tariff_usd_per_device_hour: what the compute tariff "
    "charges for a device-hour now (time of use included; energy is passed through on top)"
)


def _rtt(svc: Services, sites: list[SiteNow], origin: str | None) -> dict[str, float | None] | None:
    """Site id -> RTT in ms from `origin` (a site id, else a region: its nearest site); None: unreachable.
    UnknownNameError when `origin` is neither."""
    if origin is None:
        return None
    ids = [s.site.id for s in sites]
    if origin in ids:
        starts = [origin]
    else:
        starts = [s.site.id for s in sites if s.site.region == origin]
        if not starts:
            raise UnknownNameError("region or site", origin, {s.site.region for s in sites} | set(ids))
    paths = Paths.build(ids, svc.links)
    out: dict[str, float | None] = {}
    for target in ids:
        best = min(paths.latency(a, target) for a in starts)
        out[target] = None if math.isinf(best) else best
    return out


def offers_now(
    svc: Services, accelerator: str | None = None, min_devices: int = 0, origin: str | None = None, sort: OfferSort = OfferSort.PRICE
) -> dict[str, Any]:
    """The answer of `GET /v1/offers` (see the module's docstring)."""
    if sort == OfferSort.LATENCY and origin is None:
        raise ApiError(400, "sort=latency needs from=REGION (a region of the sites, or a site id)")
    now, sites = sites_now(svc)
    if accelerator is not None:
        valid = set(svc.known_models) | {m for s in sites for m in s.site.inventory}
        if accelerator not in valid:
            raise UnknownNameError("accelerator", accelerator, valid)
    rtt = _rtt(svc, sites, origin)
    tariff = svc.tariff or default_tariff(shipped_units().default)
    tou = tariff.multiplier(int(now // 3600) % 24)
    base = svc.throughput.base
    models = sorted(set(svc.catalog) | {m for s in sites for m in s.site.inventory})
    units = units_of(base if isinstance(base, ThroughputModel) else None, models)
    offers = []
    for s in sites:
        site = s.site
        for model, total in site.inventory.items():
            if total <= 0 or (accelerator is not None and model != accelerator):
                continue
            free = max(0, total - s.busy.get(model, 0)) if s.state == SiteState.UP else 0
            if free < min_devices:
                continue
            acc = svc.catalog.get(model)
            tdp = acc.tdp_w if acc is not None else None
            offers.append(
                {
                    "site": site.id,
                    "tier": site.tier.value,
                    "region": site.region,
                    "state": s.state.value,
                    "accelerator": model,
                    "emulated": model in site.emulated,
                    "total": total,
                    "busy": s.busy.get(model, 0),
                    "free": free,
                    "cu_rate": units.rate(model),
                    "tdp_w": tdp,
                    "pue": site.pue,
                    "price_usd_per_kwh": site.price_usd_per_kwh,
                    "energy_usd_per_device_hour": None if not tdp else tdp / 1000.0 * site.pue * site.price_usd_per_kwh,
                    "tariff_usd_per_device_hour": tariff.rate(site.id, model) * tou,
                    "preemptible_usd_per_device_hour": tariff.rate(site.id, model) * tou * (1.0 - tariff.preemptible_discount),
                    "carbon_g_per_kwh": site.carbon_g_per_kwh,
                    "rtt_ms": None if rtt is None else rtt[site.id],
                }
            )
    offers.sort(key=lambda o: (*_sort_key(o, sort), o["site"], o["accelerator"]))
    return {
        "as_of_s": now,
        "from": origin,
        "sort": sort.value,
        "cu_reference": REFERENCE_MODEL,
        "price_note": ENERGY_NOTE,
        "tariff_version": tariff.version,
        "offers": offers,
    }


def _sort_key(o: dict[str, Any], sort: OfferSort) -> tuple[bool, float]:
    """(unknown, value) so that unknown values sort last; descending keys negated."""
    value: float | None
    if sort == OfferSort.PRICE:
        value = o["energy_usd_per_device_hour"]
    elif sort == OfferSort.CARBON:
        value = o["carbon_g_per_kwh"]
    elif sort == OfferSort.FREE:
        value = -o["free"]
    elif sort == OfferSort.LATENCY:
        value = o["rtt_ms"]
    else:
        value = None if o["cu_rate"] is None else -o["cu_rate"]
    return (value is None, 0.0 if value is None else value)


AcceleratorQuery = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$", description="only this accelerator model")]
FromQuery = Annotated[
    str | None,
    Query(alias="from", min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$", description="RTT from this region (of the sites) or site id"),
]


@router.get("", responses=errors(400))
def offers(
    svc: Svc,
    _who: Caller,
    accelerator: AcceleratorQuery = None,
    min_devices: Annotated[int, Query(ge=0, le=1_000_000, description="only offers with at least this many devices free")] = 0,
    origin: FromQuery = None,
    sort: Annotated[OfferSort, Query(description="price (energy per device-hour), carbon, free, latency (needs from) or cu")] = OfferSort.PRICE,
) -> dict[str, Any]:
    """Per site and accelerator model: devices total and free now, compute-unit rate, energy price
    and its price per device-hour (energy only), carbon intensity now, and RTT from `from`."""
    return offers_now(svc, accelerator, min_devices, origin, sort)
