"""Invoices from the usage ledger (cpnet.control.invoice): a tenant's month, per site and model, as JSON, CSV or HTML.

A tenant token sees only its own tenant's invoices; an admin names the tenant (`tenant`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from cpnet.api.app import ApiError
from cpnet.api.deps import Caller, Svc
from cpnet.api.openapi import errors
from cpnet.api.schemas import TenantParam
from cpnet.control.invoice import Period, PeriodError, build_invoice, periods_between
from cpnet.control.invoice_html import invoice_html
from cpnet.control.store.store import Principal

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])

PeriodParam = Annotated[str, Path(max_length=16, description="a UTC calendar month, YYYY-MM (e.g. 2026-11)")]
FormatParam = Annotated[Literal["json", "csv", "html"], Query(description="json (default), csv, or html (one page with a usage chart)")]


def _tenant(svc: Svc, who: Principal, tenant: str | None) -> str:
    if not who.admin:
        if tenant is not None and tenant != who.tenant_id:
            raise ApiError(403, f"a tenant token sees only its own tenant's invoices ('{who.tenant_id}'), not '{tenant}'")
        assert who.tenant_id is not None  # a token that is not an admin's belongs to a tenant
        return who.tenant_id
    if tenant is None:
        raise ApiError(400, "an admin token names the tenant: ?tenant=NAME")
    if tenant not in svc.store.tenants():
        raise ApiError(404, f"no tenant '{tenant}'")
    return tenant


@router.get("", responses=errors(400, 403, 404))
def list_invoices(svc: Svc, who: Caller, tenant: TenantParam = None) -> dict[str, Any]:
    """The months in which the tenant was billed, from its first record to its last."""
    owner = _tenant(svc, who, tenant)
    span = svc.store.ledger_span(owner)
    now = svc.clock.now()
    periods = [] if span is None else periods_between(*span)
    return {"tenant": owner, "periods": [{"period": str(p), "provisional": now < p.end_s} for p in periods]}


@router.get("/{period}", responses={200: {"content": {"text/csv": {}, "text/html": {}}}, **errors(400, 403, 404)})
def invoice(period: PeriodParam, svc: Svc, who: Caller, tenant: TenantParam = None, format: FormatParam = "json") -> Any:
    """The tenant's invoice for `period`: lines per site and accelerator model, totals (the ledger's sums), CU, kWh, kgCO2."""
    owner = _tenant(svc, who, tenant)
    try:
        p = Period.parse(period)
    except PeriodError as exc:
        raise ApiError(400, str(exc)) from exc
    inv = build_invoice(owner, p, svc.store.ledger_records(owner, p.start_s, p.end_s), svc.clock.now())
    name = f"invoice-{owner}-{p}"
    if format == "csv":
        return Response(inv.to_csv(), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if format == "html":
        return Response(invoice_html(inv), media_type="text/html; charset=utf-8")
    return inv.to_json()
