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

from typing import Any

from fastapi import APIRouter

from cpnet.api.deps import Caller, Svc
from cpnet.api.schemas import TenantParam

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.get("")
def usage(svc: Svc, who: Caller, tenant: TenantParam = None) -> dict[str, Any]:
    owner = tenant if who.admin else who.tenant_id
    now = svc.clock.now()
    pue = {r.site.id: r.site.pue for r in svc.store.list_sites()}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    no_tdp: set[str] = set()
    for row in svc.store.usage_rows(owner):
        if row.get("device_s") is not None:
            device_s, source = row["device_s"], row.get("device_s_source") or "cpnet"
        else:
            end = row["end_s"] if row["end_s"] is not None else now
            device_s, source = max(end - row["start_s"], 0.0) * row["num_devices"], "cpnet"
        model = row["accelerator"]
        energy_source = "nvml" if row["energy_kwh"] is not None else "estimate"
        if row["energy_kwh"] is not None:
            kwh = row["energy_kwh"]
        else:
            acc = svc.catalog.get(model)
            tdp = getattr(acc, "tdp_w", None)
            if tdp is None:
                no_tdp.add(model)
                kwh = 0.0
            else:
                kwh = device_s * tdp * pue.get(row["site"], 1.0) / 3.6e6
        cell = out.setdefault(row["tenant_id"], {}).setdefault(model, {"device_s": 0.0, "energy_kwh": 0.0})
        cell["device_s"] += device_s
        cell["energy_kwh"] += kwh
        cell["device_s_source"] = source if cell.get("device_s_source") in (None, source) else "mixed"
        cell["energy_source"] = energy_source if cell.get("energy_source") in (None, energy_source) else "mixed"
    return {"as_of_s": now, "tenants": out, "energy_unknown_for": sorted(no_tdp)}
