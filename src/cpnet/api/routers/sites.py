"""Sites: list (any token); register and heartbeat (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cpnet.api.app import ApiError
from cpnet.api.deps import Admin, Caller, Svc
from cpnet.api.openapi import errors
from cpnet.api.schemas import Heartbeat, SiteIdParam, SiteRegister
from cpnet.control.store.store import SiteRecord, StoreError
from cpnet.core.model import Site, Tier

router = APIRouter(prefix="/v1/sites", tags=["sites"])


def site_json(rec: SiteRecord, used: dict[tuple[str, str], int] | None = None) -> dict[str, Any]:
    s = rec.site
    used = used or {}
    return {
        "id": s.id,
        "tier": s.tier.value,
        "region": s.region,
        "lat": s.lat,
        "lon": s.lon,
        "state": rec.state.value,
        "source": rec.source,
        "inventory": dict(s.inventory),
        "emulated": sorted(s.emulated),
        "busy": {m: used.get((s.id, m), 0) for m in s.inventory},
        "pue": s.pue,
        "price_usd_per_kwh": s.price_usd_per_kwh,
        "carbon_g_per_kwh": s.carbon_g_per_kwh,
        "power_cap_kw": s.power_cap_kw,
        "heartbeat_s": rec.heartbeat_s,
        "heartbeat_timeout_s": rec.heartbeat_timeout_s,
    }


@router.get("")
def list_sites(svc: Svc, _who: Caller) -> dict[str, Any]:
    used = svc.store.devices_in_use()  # summed by the database: no job spec (up to ~1.3 MB each) is read
    return {"sites": [site_json(r, used) for r in svc.store.list_sites()]}


@router.post("", status_code=201, responses=errors(403))
def register(body: SiteRegister, svc: Svc, _who: Admin) -> dict[str, Any]:
    site = Site(
        body.id,
        Tier(body.tier),
        body.region,
        body.lat,
        body.lon,
        dict(body.inventory),
        body.pue,
        body.price_usd_per_kwh,
        body.carbon_g_per_kwh,
        frozenset(body.emulated),
        body.power_cap_kw,
    )
    svc.store.upsert_site(site, "api", svc.clock.now(), body.heartbeat_timeout_s)
    return site_json(svc.store.get_site(body.id))  # type: ignore[arg-type]


@router.post("/{site_id}/heartbeat", responses=errors(403, 404, 409))
def heartbeat(site_id: SiteIdParam, body: Heartbeat, svc: Svc, _who: Admin) -> dict[str, Any]:
    try:
        return site_json(svc.store.heartbeat(site_id, svc.clock.now(), body.inventory))
    except StoreError as exc:
        raise ApiError(404, str(exc)) from exc
