"""What the web dashboard's pages read: the network now, the queue, tenants' usage, energy over time.

Scoping is the API's: an admin token sees every tenant; a tenant token sees its own jobs, usage
and energy (asking for another tenant's is a 403, so the page can say so) and the network, which
every tenant may see (`GET /v1/sites` too). Each answer is a bounded page or an aggregate, so a
page renders as fast with 10,000 jobs in the store as with ten.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import case, func, select

from cpnet.api.app import ApiError, Services
from cpnet.api.deps import Caller, Svc
from cpnet.api.network_now import network_now
from cpnet.api.openapi import errors
from cpnet.api.routers.usage import attempt_usage
from cpnet.api.schemas import TenantParam
from cpnet.control.store import schema as t
from cpnet.control.store.store import Principal
from cpnet.core.states import JobState

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

# Bucket widths offered when the caller does not choose one: the smallest that covers the span in MAX_BUCKETS.
NICE_BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 96
BucketParam = Annotated[int | None, Query(ge=60, le=30 * 86400, description="width of a history bucket, seconds; default: fits the span in 96")]
SiteParam = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._-]+$", description="only jobs placed at this site")]
COMMAND_CHARS = 200  # of a command shown in a list


def _owner(who: Principal, tenant: str | None) -> str | None:
    """The tenant whose data the caller asks for: None is every tenant (admin only)."""
    if who.admin:
        return tenant
    if tenant is not None and tenant != who.tenant_id:
        raise ApiError(403, f"a tenant token sees only its own tenant ('{who.tenant_id}'), not '{tenant}'")
    return who.tenant_id


@router.get("/network")
def network(svc: Svc, _who: Caller) -> dict[str, Any]:
    """Every site with its devices free and busy, facility power draw against its cap, and price and
    carbon intensity now (the scenario's series where it has them); the links with their latency."""
    return network_now(svc)


@router.get("/queue", responses=errors(403))
def queue(
    svc: Svc,
    who: Caller,
    state: Annotated[list[JobState] | None, Query(max_length=len(JobState))] = None,
    tenant: TenantParam = None,
    site: SiteParam = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    since: Annotated[float | None, Query(ge=0, le=1e11, description="only jobs submitted at or after this Unix time")] = None,
) -> dict[str, Any]:
    """Jobs as a queue: running and scheduled first (latest start first), then pending in queue order
    (`position`: 1 for the oldest pending job of the whole network, by submission), then ended ones
    (latest end first). `counts` are by state under the tenant, site and since filters. Each job has
    its `name` (or null) and `short_id` (as GET /v1/jobs/{id} gives it). `cpnet job list` shows this."""
    owner = _owner(who, tenant)
    jc = t.jobs.c
    scope = []
    if owner is not None:
        scope.append(jc.tenant_id == owner)
    if site is not None:
        scope.append(jc.site == site)
    if since is not None:
        scope.append(jc.submitted_s >= since)
    states = [s.value for s in state or []]
    active = (JobState.RUNNING.value, JobState.SCHEDULED.value)
    group = case((jc.state.in_(active), 0), (jc.state == JobState.PENDING.value, 1), else_=2)
    within = case((jc.state == JobState.PENDING.value, jc.seq), else_=-func.coalesce(jc.finished_s, jc.started_s, jc.submitted_s))
    pending = t.jobs.alias("ahead")
    position = (
        select(func.count()).select_from(pending).where(pending.c.state == JobState.PENDING.value, pending.c.seq <= jc.seq).correlate(t.jobs).scalar_subquery()
    )
    cols: list[Any] = [jc.id, jc.tenant_id, jc.state, jc.submitted_s, jc.started_s, jc.finished_s, jc.site, jc.accelerator, jc.num_devices]
    cols += [jc.attempt, jc.exit_code, jc.reason, jc.spec["command"].label("command"), jc.spec["devices"].label("devices")]
    cols += [jc.spec["accelerator"].label("want"), case((jc.state == JobState.PENDING.value, position), else_=None).label("position")]
    cols += [jc.spec["name"].label("name")]
    where = [*scope, jc.state.in_(states)] if states else scope
    with svc.store.engine.connect() as c:
        counts = {str(s): int(n) for s, n in c.execute(select(jc.state, func.count()).where(*scope).group_by(jc.state))}
        total = sum(n for s, n in counts.items() if not states or s in states)
        rows = list(c.execute(select(*cols).where(*where).order_by(group, within, jc.seq).offset(offset).limit(limit)))
    short = svc.store.short_job_ids([r.id for r in rows], None if who.admin else who.tenant_id)
    jobs = [
        {
            "id": r.id,
            "short_id": short.get(r.id, r.id),
            "name": r.name if isinstance(r.name, str) else None,
            "tenant": r.tenant_id,
            "state": r.state,
            "submitted_s": r.submitted_s,
            "started_s": r.started_s,
            "finished_s": r.finished_s,
            "placement": None if r.site is None else {"site": r.site, "accelerator": r.accelerator, "devices": r.num_devices},
            "devices": r.devices if isinstance(r.devices, int) else 1,
            "accelerator": r.want if isinstance(r.want, str) else None,
            "reason": r.reason,
            "position": r.position,
            "attempt": r.attempt,
            "exit_code": r.exit_code,
            "command": _short_command(r.command),
        }
        for r in rows
    ]
    return {
        "as_of_s": svc.clock.now(),
        "counts": {s.value: counts.get(s.value, 0) for s in JobState},
        "total": total,
        "offset": offset,
        "limit": limit,
        "jobs": jobs,
    }


def _short_command(command: Any) -> list[str]:
    """The first COMMAND_CHARS characters of a command (argv), for a list."""
    if not isinstance(command, list):
        return []
    out, left = [], COMMAND_CHARS
    for arg in command:
        text = str(arg)
        if left <= 0:
            out.append("…")
            break
        out.append(text if len(text) <= left else text[:left] + "…")
        left -= len(text)
    return out


def bucket_width_s(span_s: float, asked: int | None) -> int:
    """`asked`, else the smallest NICE_BUCKETS_S width that shows `span_s` in at most MAX_BUCKETS."""
    if asked is not None:
        return asked
    return next((b for b in NICE_BUCKETS_S if span_s / b <= MAX_BUCKETS), NICE_BUCKETS_S[-1])


def _spread(t0: float, t1: float, width: int, first: float) -> list[tuple[int, float]]:
    """(bucket index, share of [t0, t1] in it) for each bucket [t0, t1] touches; buckets start at
    `first` (a multiple of `width`). An instant (t1 <= t0) is all in its bucket."""
    i0 = int((t0 - first) // width)
    if t1 <= t0:
        return [(i0, 1.0)]
    i1 = int((t1 - first) // width)
    if i1 == i0:
        return [(i0, 1.0)]
    span = t1 - t0
    out = [(i0, (first + (i0 + 1) * width - t0) / span)]
    mid = width / span
    out.extend((i, mid) for i in range(i0 + 1, i1))
    tail = t1 - (first + i1 * width)
    if tail > 0:
        out.append((i1, tail / span))
    return out


def _attempts(svc: Services, owner: str | None) -> tuple[list[dict[str, Any]], float]:
    rows = svc.store.usage_rows(owner)
    return rows, min((r["start_s"] for r in rows), default=svc.clock.now())


@router.get("/tenants", responses=errors(403))
def tenants(svc: Svc, who: Caller, bucket_s: BucketParam = None) -> dict[str, Any]:
    """Each tenant's weight, jobs by state, device-seconds and energy in total and by model, and its
    device-seconds per bucket over time (a running attempt counts until now). A tenant token: itself."""
    owner = _owner(who, None)
    now = svc.clock.now()
    weights = svc.store.tenants()
    names = sorted(weights) if owner is None else [owner]
    jc = t.jobs.c
    q = select(jc.tenant_id, jc.state, func.count()).group_by(jc.tenant_id, jc.state)
    if owner is not None:
        q = q.where(jc.tenant_id == owner)
    with svc.store.engine.connect() as c:
        by_state: dict[str, dict[str, int]] = {}
        for tenant_id, st, n in c.execute(q):
            by_state.setdefault(tenant_id, {})[st] = int(n)
    pue = {r.site.id: r.site.pue for r in svc.store.list_sites()}
    rows, start = _attempts(svc, owner)
    width = bucket_width_s(now - start, bucket_s)
    first = math.floor(start / width) * width
    n_buckets = int((now - first) // width) + 1
    out: dict[str, dict[str, Any]] = {n: {"device_s": 0.0, "energy_kwh": 0.0, "by_model": {}, "history": [0.0] * n_buckets} for n in names}
    for row in rows:
        cell = out.get(row["tenant_id"])
        if cell is None:
            continue
        u = attempt_usage(row, now, svc.catalog, pue.get(row["site"], 1.0))
        cell["device_s"] += u.device_s
        cell["energy_kwh"] += u.energy_kwh
        cell["by_model"][row["accelerator"]] = cell["by_model"].get(row["accelerator"], 0.0) + u.device_s
        end = row["end_s"] if row["end_s"] is not None else now
        for i, share in _spread(row["start_s"], end, width, first):
            if 0 <= i < n_buckets:
                cell["history"][i] += u.device_s * share
    return {
        "as_of_s": now,
        "bucket_s": width,
        "tenants": [
            {
                "id": n,
                "weight": weights.get(n, 1.0),
                "jobs": {s.value: by_state.get(n, {}).get(s.value, 0) for s in JobState},
                "device_s": out[n]["device_s"],
                "energy_kwh": out[n]["energy_kwh"],
                "by_model": out[n]["by_model"],
                "history": [{"t_s": first + i * width, "device_s": v} for i, v in enumerate(out[n]["history"])],
            }
            for n in names
        ],
    }


@router.get("/energy", responses=errors(403))
def energy(svc: Svc, who: Caller, tenant: TenantParam = None, bucket_s: BucketParam = None) -> dict[str, Any]:
    """kWh, kgCO2 and energy cost per site and tier, in total and per bucket over time, of the
    caller's attempts (every tenant's for an admin). Energy as `/v1/usage` counts it; carbon and
    cost at the site's mean intensity and price over each bucket (the scenario's series where it
    has them; one mean per site and bucket, so the answer costs one pass over the attempts). Cost is
    electricity only (what tenants are billed, compute included, is in the ledger and its invoices)."""
    owner = _owner(who, tenant)
    now = svc.clock.now()
    sites = {r.site.id: r.site for r in svc.store.list_sites()}
    rows, start = _attempts(svc, owner)
    width = bucket_width_s(now - start, bucket_s)
    first = math.floor(start / width) * width
    n_buckets = int((now - first) // width) + 1
    per_site: dict[str, list[list[float]]] = {}  # site -> per bucket [kwh, g, usd]
    intensity: dict[str, list[tuple[float, float]]] = {}  # site -> per bucket (gCO2/kWh, USD/kWh), its mean over the bucket
    for row in rows:
        site_id = row["site"]
        site = sites.get(site_id)
        u = attempt_usage(row, now, svc.catalog, site.pue if site is not None else 1.0)
        series = per_site.get(site_id)
        if series is None:
            series = per_site[site_id] = [[0.0, 0.0, 0.0] for _ in range(n_buckets)]
            intensity[site_id] = [_intensity(svc, site, first + i * width, first + (i + 1) * width) for i in range(n_buckets)]
        means = intensity[site_id]
        end = row["end_s"] if row["end_s"] is not None else now
        for i, share in _spread(row["start_s"], end, width, first):
            if not 0 <= i < n_buckets:
                continue
            kwh = u.energy_kwh * share
            carbon, price = means[i]
            cell = series[i]
            cell[0] += kwh
            cell[1] += kwh * carbon
            cell[2] += kwh * price
    out_sites = []
    tiers: dict[str, list[float]] = {}
    for site_id in sorted(per_site):
        series = per_site[site_id]
        site = sites.get(site_id)
        tier = site.tier.value if site is not None else "unknown"
        kwh, grams, usd = (sum(cell[k] for cell in series) for k in range(3))
        total = tiers.setdefault(tier, [0.0, 0.0, 0.0])
        total[0] += kwh
        total[1] += grams
        total[2] += usd
        out_sites.append(
            {
                "site": site_id,
                "tier": tier,
                "kwh": kwh,
                "kg_co2": grams / 1000.0,
                "cost_usd": usd,
                "series": [{"t_s": first + i * width, "kwh": c[0], "kg_co2": c[1] / 1000.0, "cost_usd": c[2]} for i, c in enumerate(series)],
            }
        )
    return {
        "as_of_s": now,
        "bucket_s": width,
        "sites": out_sites,
        "tiers": [{"tier": k, "kwh": v[0], "kg_co2": v[1] / 1000.0, "cost_usd": v[2]} for k, v in sorted(tiers.items())],
    }


def _intensity(svc: Services, site: Any, t0: float, t1: float) -> tuple[float, float]:
    """(gCO2/kWh, USD/kWh) of `site` averaged over [t0, t1]; zeros for a site no longer known."""
    if site is None:
        return 0.0, 0.0
    if svc.energy is None:
        return site.carbon_g_per_kwh, site.price_usd_per_kwh
    return svc.energy.mean_carbon(site, t0, t1), svc.energy.mean_price(site, t0, t1)
