"""App factory. Everything the routers need is in `Services`, on `app.state.services`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
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


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if services.on_start:
            services.on_start()
        yield
        if services.on_stop:
            services.on_stop()

    app = FastAPI(title="cpnet control plane", version="1", lifespan=lifespan)
    app.state.services = services

    @app.exception_handler(ApiError)
    async def _api_error(_r: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        clean = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
        return JSONResponse({"error": _field_errors(errors), "detail": clean}, status_code=422)

    @app.exception_handler(InvalidTransition)
    async def _conflict(_r: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409)

    @app.exception_handler(CpnetError)
    async def _user_error(_r: Request, exc: CpnetError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from cpnet.api.routers import admin, jobs, sites, usage

    for r in (jobs.router, sites.router, usage.router, admin.router):
        app.include_router(r)
    return app
