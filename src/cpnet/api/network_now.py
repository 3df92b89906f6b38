"""The network now: every site with its devices busy, power draw, and price and carbon intensity at
this moment, and the scenario's links. One computation, read by `GET /v1/dashboard/network` (as
is) and `GET /v1/offers` (per site and model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cpnet.api.app import Services
from cpnet.core.model import Site
from cpnet.core.power import site_draw_kw
from cpnet.core.states import SiteState


@dataclass(frozen=True, slots=True)
class SiteNow:
    """A site as it is now: `site` carries the price and carbon intensity of this moment."""

    site: Site
    state: SiteState
    busy: dict[str, int]  # model -> devices in use, for every model of the inventory


def sites_now(svc: Services) -> tuple[float, list[SiteNow]]:
    """(now, every site with its price and carbon now (the scenario's series where it has them) and busy devices)."""
    now = svc.clock.now()
    used = svc.store.devices_in_use()
    out = []
    for rec in svc.store.list_sites():
        site = rec.site if svc.energy is None else svc.energy.site_at(rec.site, now)
        out.append(SiteNow(site, rec.state, {m: used.get((site.id, m), 0) for m in site.inventory}))
    return now, out


def network_now(svc: Services) -> dict[str, Any]:
    """`{"as_of_s", "sites": [...], "links": [...]}`: each site's tier, region, position, state,
    inventory, busy devices per model, facility draw (0 when not up) against its cap, price and
    carbon now and PUE; each link's latency and bandwidth."""
    now, sites = sites_now(svc)
    return {
        "as_of_s": now,
        "sites": [
            {
                "id": s.site.id,
                "tier": s.site.tier.value,
                "region": s.site.region,
                "lat": s.site.lat,
                "lon": s.site.lon,
                "state": s.state.value,
                "inventory": dict(s.site.inventory),
                "busy": s.busy,
                "power_kw": site_draw_kw(s.site, s.busy, svc.catalog) if s.state == SiteState.UP else 0.0,
                "power_cap_kw": s.site.power_cap_kw,
                "price_usd_per_kwh": s.site.price_usd_per_kwh,
                "carbon_g_per_kwh": s.site.carbon_g_per_kwh,
                "pue": s.site.pue,
            }
            for s in sites
        ],
        "links": [{"a": lk.a, "b": lk.b, "latency_ms": lk.latency_ms, "bandwidth_gbps": lk.bandwidth_gbps} for lk in svc.links],
    }
