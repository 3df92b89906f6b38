"""Tenants, tokens and identity. The tenant tree (cpnet.core.tenancy): create, list, show, change
and remove orgs, teams and tenants; tokens: create, list, revoke; who am I.

Who may do what. The admin sees and manages every node. An org's or a team's admin (a token made
with `admin_of`) sees its own node and everything below it, and manages what is strictly below it:
it creates nodes whose parent is in its subtree, changes and removes nodes below its own, and makes
tokens for them; its own node's weight, quota and budget are set by the admin above it. Nodes
outside its subtree answer 404, as if they did not exist. Such a token is accepted only here
(/v1/tenants, /v1/tokens, /v1/whoami): jobs, usage and the network are for tenant and admin tokens.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, StrictBool, model_validator

from cpnet.api.app import ApiError
from cpnet.api.deps import Caller, Svc
from cpnet.api.openapi import errors
from cpnet.api.schemas import STRICT, Name, TenantCreate, TenantFields, TenantUpdate
from cpnet.control.store.store import Principal, StoreError, TokenRecord
from cpnet.control.store.store import token_id as id_of_token
from cpnet.core.tenancy import Budget, BudgetPeriod, BudgetUnit, NodeKind, TenantNode, TenantTree, TenantTreeError

router = APIRouter(prefix="/v1", tags=["tenants"])
NodeParam = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="an org, team or tenant")]


def node_json(n: TenantNode) -> dict[str, Any]:
    b = n.budget
    return {
        "name": n.id,
        "kind": n.kind.value,
        "parent": n.parent,
        "weight": n.weight,
        "quota_cu_s": n.quota_cu_s,
        "family_quota_cu_s": dict(n.family_quota_cu_s),
        "borrowing_limit_cu_s": n.borrowing_limit_cu_s,
        "lending_limit_cu_s": n.lending_limit_cu_s,
        "budget": None if b is None else {"amount": b.amount, "unit": b.unit.value, "period": b.period.value},
    }


def _visible_ids(tree: TenantTree, who: Principal) -> set[str] | None:
    """The nodes the caller may see (None: every node); 403 for a tenant token."""
    if who.admin:
        return None
    if who.scope is None:
        raise ApiError(403, "managing tenants needs an admin token, or an org's or a team's admin token")
    return set(tree.descendants(who.scope)) if who.scope in tree else set()


def _node(tree: TenantTree, who: Principal, name: str) -> TenantNode:
    visible = _visible_ids(tree, who)
    if name not in tree or (visible is not None and name not in visible):
        raise ApiError(404, f"no tenant '{name}'")
    return tree.node(name)


def _below(tree: TenantTree, who: Principal, name: str) -> TenantNode:
    """A node the caller may change: any for the admin, strictly below its own node for a node's admin."""
    node = _node(tree, who, name)
    if who.scope is not None and name == who.scope:
        raise ApiError(403, f"'{name}' is your own {node.kind}: its weight, quota and budget are set by the admin above it")
    return node


def _fields(body: TenantFields, base: TenantNode) -> TenantNode:
    given = body.model_fields_set
    changes: dict[str, Any] = {
        k: getattr(body, k) for k in ("weight", "quota_cu_s", "family_quota_cu_s", "borrowing_limit_cu_s", "lending_limit_cu_s") if k in given
    }
    if "family_quota_cu_s" in changes:
        changes["family_quota_cu_s"] = dict(changes["family_quota_cu_s"])
    if "budget" in given:
        b = body.budget
        changes["budget"] = None if b is None else Budget(b.amount, BudgetUnit(b.unit), BudgetPeriod(b.period))
    return replace(base, **changes)


def _tree_error(exc: TenantTreeError) -> RequestValidationError:
    """A 422 at the body's field (the node's own), or at the body when the rule broke at another node."""
    return RequestValidationError([{"loc": ("body", exc.field), "msg": str(exc), "type": "value_error"}])


@router.post("/tenants", status_code=201, responses=errors(403, 404, 409, 422))
def create_tenant(body: TenantCreate, svc: Svc, who: Caller) -> dict[str, Any]:
    """A new org, team or tenant; a tenant's first token is returned once (`token`)."""
    tree = svc.store.tenant_tree()
    visible = _visible_ids(tree, who)
    if visible is not None and (body.parent is None or body.parent not in visible):
        raise ApiError(403, f"a node's admin creates nodes inside its own subtree: give parent '{who.scope}' or a node below it")
    node = _fields(body, TenantNode(body.name, NodeKind(body.kind), body.parent))
    try:
        token = svc.store.create_node(node, svc.clock.now())
    except TenantTreeError as exc:
        raise _tree_error(exc) from exc
    except StoreError as exc:
        raise ApiError(409, str(exc)) from exc
    out = {"tenant": body.name, **node_json(node)}
    if token is not None:
        out.update(token=token, token_id=id_of_token(token))
    return out


@router.get("/tenants", responses=errors(403))
def list_tenants(svc: Svc, who: Caller) -> dict[str, Any]:
    """Every node (the admin), or the caller's own subtree (an org's or a team's admin), in tree order."""
    tree = svc.store.tenant_tree()
    visible = _visible_ids(tree, who)
    return {"tenants": [node_json(n) for n in tree if visible is None or n.id in visible]}


@router.get("/tenants/{name}", responses=errors(403, 404))
def show_tenant(name: NodeParam, svc: Svc, who: Caller) -> dict[str, Any]:
    tree = svc.store.tenant_tree()
    node = _node(tree, who, name)
    return {**node_json(node), "members": list(tree.children(name)), "tenants": list(tree.tenants(name))}


@router.patch("/tenants/{name}", responses=errors(403, 404, 422))
def update_tenant(name: NodeParam, body: TenantUpdate, svc: Svc, who: Caller) -> dict[str, Any]:
    """Change a node's weight, quotas, limits or budget (the fields given; null clears)."""
    node = _fields(body, _below(svc.store.tenant_tree(), who, name))
    try:
        svc.store.update_node(node)
    except TenantTreeError as exc:
        raise _tree_error(exc) from exc
    return node_json(node)


@router.delete("/tenants/{name}", responses=errors(403, 404, 409))
def delete_tenant(name: NodeParam, svc: Svc, who: Caller) -> dict[str, Any]:
    """Remove a node without members (a tenant also without jobs); its tokens are removed with it."""
    _below(svc.store.tenant_tree(), who, name)
    try:
        svc.store.delete_node(name)
    except StoreError as exc:
        raise ApiError(409, str(exc)) from exc
    svc.forget_tokens()
    return {"deleted": name}


@router.get("/whoami")
def whoami(who: Caller) -> dict[str, Any]:
    return {"tenant": who.tenant_id, "admin": who.admin, "admin_of": who.scope, "token_id": who.token_id}


MAX_TTL_S = 10 * 365 * 86400
TokenIdParam = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="a token's id (GET /v1/tokens, or printed when it was made)")]


class TokenCreate(BaseModel):
    """A new token: a tenant's (`tenant`), an org's or a team's admin's (`admin_of`), or the admin's
    (`admin: true`, the admin only); it expires `ttl_s` from now if given."""

    model_config = STRICT
    tenant: Name | None = None
    admin_of: Name | None = None
    admin: StrictBool = False
    ttl_s: float | None = Field(None, gt=0, le=MAX_TTL_S, allow_inf_nan=False, description="seconds until it expires; never when absent")

    @model_validator(mode="after")
    def _one_owner(self) -> TokenCreate:
        if sum((self.admin, self.tenant is not None, self.admin_of is not None)) != 1:
            raise ValueError("give a tenant, admin_of or admin: true (exactly one)")
        return self


def token_json(rec: TokenRecord, now_s: float) -> dict[str, Any]:
    node_admin = rec.admin and rec.tenant_id is not None
    return {
        "id": rec.id,
        "tenant": None if node_admin else rec.tenant_id,
        "admin": rec.admin and not node_admin,
        "admin_of": rec.tenant_id if node_admin else None,
        "created_s": rec.created_s,
        "expires_s": rec.expires_s,
        "revoked_s": rec.revoked_s,
        "state": rec.state(now_s),
    }


def _may_hold(tree: TenantTree, who: Principal, rec: TokenRecord) -> bool:
    """Whether the caller sees and may revoke this token: the admin any; a node's admin those of nodes strictly below its own, and its own."""
    if who.admin:
        return True
    if who.scope is not None:
        return rec.id == who.token_id or (rec.tenant_id is not None and rec.tenant_id != who.scope and rec.tenant_id in set(tree.descendants(who.scope)))
    return rec.tenant_id is not None and not rec.admin and rec.tenant_id == who.tenant_id


@router.post("/tokens", status_code=201, tags=["tokens"], responses=errors(403, 404, 422))
def create_token(body: TokenCreate, svc: Svc, who: Caller) -> dict[str, Any]:
    """A new token (shown once in `token`; only its hash is stored)."""
    now = svc.clock.now()
    if body.admin:
        if not who.admin:
            raise ApiError(403, "only the admin makes admin tokens")
        owner: str | None = None
    else:
        owner = body.tenant or body.admin_of
        assert owner is not None  # _one_owner
        tree = svc.store.tenant_tree()
        if not who.admin:
            _below(tree, who, owner)  # 404 outside the caller's subtree, 403 for its own node, 403 for a tenant token
    try:
        token, rec = svc.store.issue_token(owner, now, body.ttl_s, node_admin=body.admin_of is not None)
    except StoreError as exc:
        raise ApiError(404 if "no tenant" in str(exc) else 422, str(exc)) from exc
    return {**token_json(rec, now), "token": token}


@router.get("/tokens", tags=["tokens"])
def list_tokens(svc: Svc, who: Caller, tenant: Annotated[Name | None, Query(description="only this tenant's (or node's)")] = None) -> dict[str, Any]:
    """Tokens (never the tokens themselves): the admin sees every one, a node's admin those of its subtree, a tenant its own."""
    now = svc.clock.now()
    if who.scope is None and not who.admin:
        recs = svc.store.list_tokens(who.tenant_id)
    else:
        tree = svc.store.tenant_tree() if who.scope is not None else None
        recs = [r for r in svc.store.list_tokens(tenant) if tree is None or _may_hold(tree, who, r)]
    return {"tokens": [token_json(r, now) for r in recs]}


@router.post("/tokens/{token_id}/revoke", tags=["tokens"], responses=errors(404))
def revoke_token(token_id: TokenIdParam, svc: Svc, who: Caller) -> dict[str, Any]:
    """Revoke a token (the admin: any; a node's admin: its own and those of its subtree; a tenant: its own). Every API process refuses it within a second."""
    rec = svc.store.get_token(token_id)
    if rec is None or not _may_hold(svc.store.tenant_tree(), who, rec):
        raise ApiError(404, f"no token '{token_id}'")
    rec = svc.store.revoke_token(token_id, svc.clock.now())
    svc.forget_tokens()
    return token_json(rec, svc.clock.now())
