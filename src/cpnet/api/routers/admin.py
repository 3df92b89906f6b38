"""Tenants, tokens and identity: create a tenant (admin; the token is returned once); create
(admin), list and revoke tokens (admin: any; a tenant: its own); who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, StrictBool, model_validator

from cpnet.api.app import ApiError
from cpnet.api.deps import Admin, Caller, Svc
from cpnet.api.openapi import errors
from cpnet.api.schemas import STRICT, Name, TenantCreate
from cpnet.control.store.store import StoreError, TokenRecord
from cpnet.control.store.store import token_id as id_of_token

router = APIRouter(prefix="/v1", tags=["tenants"])


@router.post("/tenants", status_code=201, responses=errors(403, 409))
def create_tenant(body: TenantCreate, svc: Svc, _who: Admin) -> dict[str, Any]:
    try:
        token = svc.store.create_tenant(body.name, body.weight, svc.clock.now())
    except StoreError as exc:
        raise ApiError(409, str(exc)) from exc
    return {"tenant": body.name, "weight": body.weight, "token": token, "token_id": id_of_token(token)}


@router.get("/tenants", responses=errors(403))
def list_tenants(svc: Svc, _who: Admin) -> dict[str, Any]:
    return {"tenants": [{"name": k, "weight": w} for k, w in sorted(svc.store.tenants().items())]}


@router.get("/whoami")
def whoami(who: Caller) -> dict[str, Any]:
    return {"tenant": who.tenant_id, "admin": who.admin, "token_id": who.token_id}


MAX_TTL_S = 10 * 365 * 86400
TokenIdParam = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="a token's id (GET /v1/tokens, or printed when it was made)")]


class TokenCreate(BaseModel):
    """A new token: for `tenant`, or an admin token (`admin: true`); it expires `ttl_s` from now if given."""

    model_config = STRICT
    tenant: Name | None = None
    admin: StrictBool = False
    ttl_s: float | None = Field(None, gt=0, le=MAX_TTL_S, allow_inf_nan=False, description="seconds until it expires; never when absent")

    @model_validator(mode="after")
    def _one_owner(self) -> TokenCreate:
        if self.admin == (self.tenant is not None):
            raise ValueError("give a tenant or admin: true (exactly one)")
        return self


def token_json(rec: TokenRecord, now_s: float) -> dict[str, Any]:
    return {
        "id": rec.id,
        "tenant": rec.tenant_id,
        "admin": rec.admin,
        "created_s": rec.created_s,
        "expires_s": rec.expires_s,
        "revoked_s": rec.revoked_s,
        "state": rec.state(now_s),
    }


@router.post("/tokens", status_code=201, tags=["tokens"], responses=errors(403, 404))
def create_token(body: TokenCreate, svc: Svc, _who: Admin) -> dict[str, Any]:
    """A new token (shown once in `token`; only its hash is stored)."""
    now = svc.clock.now()
    try:
        token, rec = svc.store.issue_token(None if body.admin else body.tenant, now, body.ttl_s)
    except StoreError as exc:
        raise ApiError(404, str(exc)) from exc
    return {**token_json(rec, now), "token": token}


@router.get("/tokens", tags=["tokens"])
def list_tokens(svc: Svc, who: Caller, tenant: Annotated[Name | None, Query(description="admin: only this tenant's")] = None) -> dict[str, Any]:
    """Tokens (never the tokens themselves): an admin sees every one, a tenant its own."""
    recs = svc.store.list_tokens(tenant if who.admin else who.tenant_id)
    now = svc.clock.now()
    return {"tokens": [token_json(r, now) for r in recs]}


@router.post("/tokens/{token_id}/revoke", tags=["tokens"], responses=errors(404))
def revoke_token(token_id: TokenIdParam, svc: Svc, who: Caller) -> dict[str, Any]:
    """Revoke a token (an admin: any; a tenant: its own). Every API process refuses it within a second."""
    rec = svc.store.get_token(token_id)
    if rec is None or not (who.admin or (rec.tenant_id is not None and rec.tenant_id == who.tenant_id)):
        raise ApiError(404, f"no token '{token_id}'")
    rec = svc.store.revoke_token(token_id, svc.clock.now())
    svc.forget_tokens()
    return token_json(rec, svc.clock.now())
