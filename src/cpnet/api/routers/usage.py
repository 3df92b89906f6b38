"""Usage per tenant: device-seconds per accelerator model and energy.

Energy: the executor's device-counter reading when it reports one (NVML); otherwise an estimate of
device-seconds x the catalog TDP x the site's PUE. Models without a catalog TDP (the CPU pool)
count zero energy, and the answer says which models were estimated.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cpnet.api.deps import Caller, Svc

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.get("")
def usage(svc: Svc, who: Caller, tenant: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
    owner = tenant if who.admin else who.tenant_id
    now = svc.clock.now()
    pue = {r.site.id: r.site.pue for r in svc.store.list_sites()}
    out: dict[str, dict[str, dict[str, float]]] = {}
    no_tdp: set[str] = set()
    for row in svc.store.usage_rows(owner):
        end = row["end_s"] if row["end_s"] is not None else now
        device_s = max(end - row["start_s"], 0.0) * row["num_devices"]
        model = row["accelerator"]
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
    return {"as_of_s": now, "tenants": out, "energy_unknown_for": sorted(no_tdp)}
