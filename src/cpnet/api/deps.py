"""Dependencies shared by the routers: the services and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from cpnet.api.app import PRINCIPAL_KEY, ApiError, Services
from cpnet.control.store.store import Principal


async def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The bearer token's owner; 401 when the token is missing, unknown, revoked or expired.

    `ControlPlaneApp` has already checked it (before reading the body) and left the caller in the
    scope; the check here is for an app called without that front door."""
    who = request.scope.get(PRINCIPAL_KEY)
    if who is not None:
        return who  # type: ignore[no-any-return]
    return await principal_of(services_of(request), authorization)


async def principal_of(svc: Services, authorization: str | None) -> Principal:
    """The one token check: `ControlPlaneApp` calls it for every request from the headers."""
    if not authorization:
        raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "malformed Authorization header; expected 'Bearer <token>'")
    token = token.strip()
    p = svc.cached_principal(token)
    if p is None:  # a database read: off the event loop; raises 401 saying unknown / revoked / expired
        p = await run_in_threadpool(svc.principal, token)
    return p


async def admin(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if not p.admin:
        raise ApiError(403, "this endpoint needs an admin token")
    return p


Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
