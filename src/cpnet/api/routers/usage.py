"""Usage per tenant: device-seconds per accelerator model and energy.

Device-seconds: what the engine reported for the attempt (Ray's task timing, Slurm's sacct
elapsed x allocated GPUs) when it did; otherwise cpnet's own clock (end - start) x devices, which
is also what a running attempt counts so far. Each cell says which: `device_s_source` is
"engine", "cpnet" or "mixed".

Energy: the executor's device-counter reading when it reports one (NVML); otherwise an estimate of
device-seconds x the catalog TDP x the site's PUE. Each cell says which (`energy_source`: "nvml",
"estimate" or "mixed"). Models without a catalog TDP (the CPU pool) count zero energy, and the
answer lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter

from cpnet.api.deps import Caller, Svc
from cpnet.api.schemas import TenantParam
from cpnet.core.model import Accelerator

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@dataclass(frozen=True, slots=True)
class AttemptUsage:
    """One attempt's device-seconds and energy, as the module docstring counts them."""

    device_s: float
    device_s_source: str  # engine | cpnet
    energy_kwh: float
    energy_source: str  # nvml | estimate
    has_tdp: bool  # False: an estimate without a catalog TDP (counted 0 kWh)


def attempt_usage(row: Mapping[str, Any], now_s: float, catalog: Mapping[str, Accelerator], pue: float) -> AttemptUsage:
    """`row`: an attempts row (`Store.usage_rows`); a running attempt counts until `now_s`."""
    if row.get("device_s") is not None:
        device_s, source = float(row["device_s"]), row.get("device_s_source") or "cpnet"
    else:
        end = row["end_s"] if row["end_s"] is not None else now_s
        device_s, source = max(end - row["start_s"], 0.0) * row["num_devices"], "cpnet"
    if row["energy_kwh"] is not None:
        return AttemptUsage(device_s, source, float(row["energy_kwh"]), "nvml", True)
    tdp = getattr(catalog.get(row["accelerator"]), "tdp_w", None)
    if tdp is None:
        return AttemptUsage(device_s, source, 0.0, "estimate", False)
    return AttemptUsage(device_s, source, device_s * tdp * pue / 3.6e6, "estimate", True)


@router.get("")
def usage(svc: Svc, who: Caller, tenant: TenantParam = None) -> dict[str, Any]:
    owner = tenant if who.admin else who.tenant_id
    now = svc.clock.now()
    pue = {r.site.id: r.site.pue for r in svc.store.list_sites()}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    no_tdp: set[str] = set()
    for row in svc.store.usage_rows(owner):
        u = attempt_usage(row, now, svc.catalog, pue.get(row["site"], 1.0))
        model = row["accelerator"]
        if not u.has_tdp:
            no_tdp.add(model)
        cell = out.setdefault(row["tenant_id"], {}).setdefault(model, {"device_s": 0.0, "energy_kwh": 0.0})
        cell["device_s"] += u.device_s
        cell["energy_kwh"] += u.energy_kwh
        cell["device_s_source"] = u.device_s_source if cell.get("device_s_source") in (None, u.device_s_source) else "mixed"
        cell["energy_source"] = u.energy_source if cell.get("energy_source") in (None, u.energy_source) else "mixed"
    return {"as_of_s": now, "tenants": out, "energy_unknown_for": sorted(no_tdp)}
