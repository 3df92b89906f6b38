"""Usage per tenant, job, site, accelerator model or day: device-seconds, energy and energy cost.

Device-seconds: what the engine reported for the attempt (Ray's task timing, Slurm's sacct
elapsed x allocated GPUs) when it did; otherwise cpnet's own clock (end - start) x devices, which
is also what a running attempt counts so far. Each cell says which: `device_s_source` is
"engine", "cpnet" or "mixed".

Energy: the executor's device-counter reading when it reports one (NVML); otherwise an estimate of
device-seconds x the catalog TDP x the site's PUE. Each cell says which (`energy_source`: "nvml",
"estimate" or "mixed"). Models without a catalog TDP (the CPU pool) count zero energy, and the
answer lists them (`energy_unknown_for`).

Energy cost (`energy_cost_usd`): energy only, kWh x the site's electricity price
(`price_usd_per_kwh` of the site's record); tariffs, device rental and network transfer are not
counted. An attempt at a site the server no longer knows costs 0 and the answer lists the site
(`energy_cost_unknown_for`).

Time window, as sacct: `since` and `until` (Unix seconds; `until` defaults to now, `since` to the
beginning) select [since, until). An attempt counts the part of its run inside the window, a
running attempt running until now: its device-seconds, energy and cost are scaled pro rata by
(seconds of the attempt inside the window) / (seconds of the attempt). An attempt of zero length
counts whole when it started inside the window. Without `since` and `until` every attempt counts
whole, as before.

Grouping: `rows` holds one row per `by` key (default `model`): `job` (with its tenant), `site`,
`model` (accelerator), `tenant`, or `day`, the UTC calendar day (YYYY-MM-DD); an attempt that
spans UTC midnight is split pro rata between the days. Each row has `attempts` (how many attempts
overlap the row's window), device_s, energy_kwh, energy_cost_usd and the two source labels.
`tenants` keeps the earlier shape: tenant -> model -> cell, over the same window.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from cpnet.api.app import ApiError
from cpnet.api.deps import Caller, Svc
from cpnet.api.openapi import errors
from cpnet.api.schemas import TenantParam
from cpnet.core.model import Accelerator

router = APIRouter(prefix="/v1/usage", tags=["usage"])


DAY_S = 86400.0
GROUPS = ("job", "site", "model", "day", "tenant")
Group = Literal["job", "site", "model", "day", "tenant"]
# Unix seconds, 0 to year 5138: a wild value is a 422 naming the parameter.
_TIME = {"ge": 0, "le": 1e11, "allow_inf_nan": False}
SinceParam = Annotated[float | None, Query(description="Unix seconds: count usage from here (inclusive); default: the beginning", **_TIME)]
UntilParam = Annotated[float | None, Query(description="Unix seconds: count usage up to here (exclusive); default: now", **_TIME)]
ByParam = Annotated[Group | None, Query(description="what a row of `rows` is: job, site, model (default), day (UTC) or tenant")]


@dataclass(frozen=True, slots=True)
class AttemptUsage:
    """One attempt's device-seconds and energy, as the module docstring counts them (the part in the window)."""

    device_s: float
    device_s_source: str  # engine | cpnet
    energy_kwh: float
    energy_source: str  # nvml | estimate
    has_tdp: bool  # False: an estimate without a catalog TDP (counted 0 kWh)
    share: float = 1.0  # the part of the attempt inside the window (1.0: no window)


def window_share(row: Mapping[str, Any], now_s: float, since_s: float | None, until_s: float | None) -> float:
    """The fraction of the attempt's run [start, end or now] inside [since_s, until_s)."""
    if since_s is None and until_s is None:
        return 1.0
    lo = -math.inf if since_s is None else since_s
    hi = math.inf if until_s is None else until_s
    start = float(row["start_s"])
    end = max(float(row["end_s"]) if row["end_s"] is not None else now_s, start)
    if end <= start:
        return 1.0 if lo <= start < hi else 0.0
    return max(min(end, hi) - max(start, lo), 0.0) / (end - start)


def attempt_usage(
    row: Mapping[str, Any],
    now_s: float,
    catalog: Mapping[str, Accelerator],
    pue: float,
    since_s: float | None = None,
    until_s: float | None = None,
) -> AttemptUsage:
    """`row`: an attempts row (`Store.usage_rows`); a running attempt counts until `now_s`. With
    `since_s` / `until_s`: the part inside [since_s, until_s), pro rata (the module docstring)."""
    if row.get("device_s") is not None:
        device_s, source = float(row["device_s"]), row.get("device_s_source") or "cpnet"
    else:
        end = row["end_s"] if row["end_s"] is not None else now_s
        device_s, source = max(end - row["start_s"], 0.0) * row["num_devices"], "cpnet"
    if row["energy_kwh"] is not None:
        whole = AttemptUsage(device_s, source, float(row["energy_kwh"]), "nvml", True)
    else:
        tdp = getattr(catalog.get(row["accelerator"]), "tdp_w", None)
        if tdp is None:
            whole = AttemptUsage(device_s, source, 0.0, "estimate", False)
        else:
            whole = AttemptUsage(device_s, source, device_s * tdp * pue / 3.6e6, "estimate", True)
    share = window_share(row, now_s, since_s, until_s)
    if share == 1.0:
        return whole
    return replace(whole, device_s=whole.device_s * share, energy_kwh=whole.energy_kwh * share, share=share)


def _utc_day(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%d")


def _day_windows(row: Mapping[str, Any], now_s: float, since_s: float | None, until_s: float | None) -> Iterator[tuple[str, float, float]]:
    """(UTC day, since, until) for each day the attempt's part inside the window touches."""
    start = row["start_s"]
    end = max(row["end_s"] if row["end_s"] is not None else now_s, start)
    a = start if since_s is None else max(start, since_s)
    b = end if until_s is None else min(end, until_s)
    if b < a or (b == a and end > start):
        return
    first = math.floor(a / DAY_S)
    last = first if b == a else math.ceil(b / DAY_S) - 1
    for d in range(first, last + 1):
        d0, d1 = d * DAY_S, (d + 1) * DAY_S
        yield _utc_day(d0), d0 if since_s is None else max(d0, since_s), d1 if until_s is None else min(d1, until_s)


def _add(cell: dict[str, Any], u: AttemptUsage, price: float) -> None:
    cell["attempts"] = cell.get("attempts", 0) + 1
    cell["device_s"] = cell.get("device_s", 0.0) + u.device_s
    cell["energy_kwh"] = cell.get("energy_kwh", 0.0) + u.energy_kwh
    cell["energy_cost_usd"] = cell.get("energy_cost_usd", 0.0) + u.energy_kwh * price
    cell["device_s_source"] = u.device_s_source if cell.get("device_s_source") in (None, u.device_s_source) else "mixed"
    cell["energy_source"] = u.energy_source if cell.get("energy_source") in (None, u.energy_source) else "mixed"


_ROW_KEY = {"job": "job_id", "site": "site", "model": "accelerator", "tenant": "tenant_id"}


@router.get("", responses=errors(400, 403))
def usage(svc: Svc, who: Caller, tenant: TenantParam = None, since: SinceParam = None, until: UntilParam = None, by: ByParam = None) -> dict[str, Any]:
    """Usage of the caller's tenant (every tenant's for an admin, or `tenant`'s) in [since, until),
    one row per `by` key; see the module docstring for how each number is counted."""
    if who.admin:
        owner = tenant
    elif tenant is not None and tenant != who.tenant_id:
        raise ApiError(403, f"a tenant token sees only its own tenant ('{who.tenant_id}'), not '{tenant}'")
    else:
        owner = who.tenant_id
    if since is not None and until is not None and since >= until:
        raise ApiError(400, f"since ({since:g}) must be before until ({until:g})")
    group: Group = by or "model"
    now = svc.clock.now()
    sites = {r.site.id: r.site for r in svc.store.list_sites()}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    rows: dict[str, dict[str, Any]] = {}
    no_tdp: set[str] = set()
    no_price: set[str] = set()
    for row in svc.store.usage_rows(owner, since_s=since, until_s=until):
        site = sites.get(row["site"])
        pue = site.pue if site is not None else 1.0
        price = site.price_usd_per_kwh if site is not None else 0.0
        u = attempt_usage(row, now, svc.catalog, pue, since, until)
        if u.share <= 0.0:
            continue  # e.g. ended at `since` exactly: nothing inside the window
        if not u.has_tdp:
            no_tdp.add(row["accelerator"])
        if site is None:
            no_price.add(row["site"])
        cell = out.setdefault(row["tenant_id"], {}).setdefault(row["accelerator"], {})
        _add(cell, u, price)
        if group == "day":
            for day, lo, hi in _day_windows(row, now, since, until):
                _add(rows.setdefault(day, {"day": day}), attempt_usage(row, now, svc.catalog, pue, lo, hi), price)
            continue
        key = row[_ROW_KEY[group]]
        r = rows.setdefault(key, {group: key} if group != "job" else {"job": key, "tenant": row["tenant_id"]})
        _add(r, u, price)
    tenants = {
        t: {m: {k: c[k] for k in ("device_s", "energy_kwh", "energy_cost_usd", "device_s_source", "energy_source")} for m, c in ms.items()}
        for t, ms in out.items()
    }
    return {
        "as_of_s": now,
        "since_s": since,
        "until_s": now if until is None else until,
        "by": group,
        "tenants": tenants,
        "rows": [rows[k] for k in sorted(rows)],
        "energy_unknown_for": sorted(no_tdp),
        "energy_cost_unknown_for": sorted(no_price),
    }
