"""App factory. Everything the routers need is in `Services`, on `app.state.services`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from cpnet.control.store.store import Principal, Store
from cpnet.control.throughput import ControlThroughput
from cpnet.core.clock import Clock
from cpnet.core.errors import CpnetError
from cpnet.core.model import Accelerator
from cpnet.core.states import InvalidTransition


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Services:
    store: Store
    clock: Clock
    run_dir: Path
    known_models: frozenset[str]
    throughput: ControlThroughput
    catalog: Mapping[str, Accelerator] = field(default_factory=dict)
    on_start: Callable[[], None] | None = None  # starts the reconciler loop
    on_stop: Callable[[], None] | None = None
    _tokens: dict[str, Principal] = field(default_factory=dict)
    batcher: Any = None  # SubmitBatcher, made on first use

    def submitter(self) -> Any:
        if self.batcher is None:
            from cpnet.api.batcher import SubmitBatcher

            self.batcher = SubmitBatcher(self.store)
        return self.batcher

    def cached_principal(self, token: str) -> Principal | None:
        return self._tokens.get(token)

    def principal(self, token: str) -> Principal | None:
        # Tokens are never revoked, so a found token can be cached; unknown ones are not cached.
        p = self._tokens.get(token)
        if p is None:
            p = self.store.principal(token)
            if p is not None:
                if len(self._tokens) > 100_000:
                    self._tokens.clear()
                self._tokens[token] = p
        return p


def _field_errors(errors: Any) -> str:
    parts = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path")]
        parts.append(f"{'.'.join(loc) or 'body'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


async def _api_error(_r: Request | None, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)


async def _invalid(_r: Request | None, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    clean = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    return JSONResponse({"error": _field_errors(errors), "detail": clean}, status_code=422)


async def _conflict(_r: Request | None, exc: InvalidTransition) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=409)


async def _user_error(_r: Request | None, exc: CpnetError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


# Most specific first: `error_response` takes the first class that matches.
ERROR_HANDLERS: tuple[tuple[type[Exception], Callable[[Request | None, Any], Awaitable[JSONResponse]]], ...] = (
    (ApiError, _api_error), (RequestValidationError, _invalid), (InvalidTransition, _conflict), (CpnetError, _user_error),
)


async def error_response(exc: Exception) -> JSONResponse | None:
    """The JSON error answer the app gives for `exc`; None for an unexpected exception (a 500)."""
    for cls, handler in ERROR_HANDLERS:
        if isinstance(exc, cls):
            return await handler(None, exc)
    return None


class ControlPlaneApp(FastAPI):
    """FastAPI, except that POST /v1/jobs (the hot path) goes straight to `cpnet.api.submit_asgi`."""

    submit_handler: Callable[[Services, Any, Any, Any], Awaitable[None]] | None = None  # set by create_app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.submit_handler is not None and scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in _SUBMIT_PATHS:
            await self.submit_handler(self.state.services, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


_SUBMIT_PATHS = frozenset({"/v1/jobs", "/v1/jobs/"})


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if services.on_start:
            services.on_start()
        yield
        if services.on_stop:
            services.on_stop()

    app = ControlPlaneApp(title="cpnet control plane", version="1", lifespan=lifespan)
    app.state.services = services
    for cls, handler in ERROR_HANDLERS:
        app.add_exception_handler(cls, handler)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from cpnet.api.routers import admin, jobs, sites, usage

    from cpnet.api.submit_asgi import handle_submit

    for r in (jobs.router, sites.router, usage.router, admin.router):
        app.include_router(r)
    app.submit_handler = handle_submit
    return app
