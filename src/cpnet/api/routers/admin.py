"""Tenants and identity: create a tenant (admin; the token is returned once), who am I."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cpnet.api.app import ApiError
from cpnet.api.deps import Admin, Caller, Svc
from cpnet.api.schemas import TenantCreate
from cpnet.control.store.store import StoreError

router = APIRouter(prefix="/v1", tags=["tenants"])


@router.post("/tenants", status_code=201)
def create_tenant(body: TenantCreate, svc: Svc, _who: Admin) -> dict[str, Any]:
    try:
        token = svc.store.create_tenant(body.name, body.weight, svc.clock.now())
    except StoreError as exc:
        raise ApiError(409, str(exc)) from exc
    return {"tenant": body.name, "weight": body.weight, "token": token}


@router.get("/tenants")
def list_tenants(svc: Svc, _who: Admin) -> dict[str, Any]:
    return {"tenants": [{"name": k, "weight": w} for k, w in sorted(svc.store.tenants().items())]}


@router.get("/whoami")
def whoami(who: Caller) -> dict[str, Any]:
    return {"tenant": who.tenant_id, "admin": who.admin}
