"""App factory. Everything the routers need is in `Services`, on `app.state.services`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from cpnet.api.limits import Limits
from cpnet.api.server_log import log_request
from cpnet.control.store.store import Principal, Store
from cpnet.control.throughput import ControlThroughput
from cpnet.core.clock import Clock
from cpnet.core.energy import EnergySignals
from cpnet.core.errors import CpnetError
from cpnet.core.model import Accelerator, Link
from cpnet.core.states import InvalidTransition
from cpnet.core.tariff import Tariff


class ApiError(Exception):
    """An answer other than 2xx: `{"error": message, **extra}` with `headers`."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


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
    limits: Limits = field(default_factory=Limits)
    local_workdirs: bool = False  # jobs run on this machine (local executor): a workdir must exist here
    links: tuple[Link, ...] = ()  # the scenario's network (declared and distance-derived links)
    energy: EnergySignals | None = None  # the scenario's price and carbon series on the wall clock
    scenario: str | None = None  # the scenario's name or path (API workers load its network again)
    tariff: Tariff | None = None  # what a device-hour costs (the scenario's compute tariff; None: the default)
    # token -> (its principal, monotonic time the entry stops being trusted, the token's expires_s)
    _tokens: dict[str, tuple[Principal, float, float | None]] = field(default_factory=dict)
    batcher: Any = None  # SubmitBatcher, made on first use
    _admission: Any = None  # Admission, made on first use
    _submit_rate: Any = None  # TokenBucket, made on first use

    def submitter(self) -> Any:
        if self.batcher is None:
            from cpnet.api.batcher import SubmitBatcher

            self.batcher = SubmitBatcher(self.store, self.limits)
        return self.batcher

    def admission(self) -> Any:
        """The submit-time check for jobs no site can ever run (`cpnet.api.admission`)."""
        if self._admission is None:
            from cpnet.api.admission import Admission

            self._admission = Admission(self.store, self.throughput, self.catalog, self.links)
        return self._admission

    def cached_principal(self, token: str) -> Principal | None:
        """The token's owner if looked up less than `limits.token_cache_s` ago (so a revocation in
        another process takes effect within that) and not expired since; else None."""
        entry = self._tokens.get(token)
        if entry is None or entry[1] < time.monotonic():
            return None
        if entry[2] is not None and entry[2] <= self.clock.now():
            return None
        return entry[0]

    def principal(self, token: str) -> Principal:
        """Look the token up in the store (a database read; call off the event loop). ApiError 401
        saying why when it is unknown, revoked or expired. Unusable tokens are not cached."""
        rec = self.store.token_record(token)
        if rec is None:
            raise ApiError(401, "unknown token")
        if rec.revoked_s is not None:
            raise ApiError(401, f"token {rec.id} was revoked")
        if rec.expires_s is not None and rec.expires_s <= self.clock.now():
            raise ApiError(401, f"token {rec.id} expired")
        p = rec.principal()
        if len(self._tokens) > 100_000:
            self._tokens.clear()
        self._tokens[token] = (p, time.monotonic() + self.limits.token_cache_s, rec.expires_s)
        return p

    def forget_tokens(self) -> None:
        """Drop the token cache (after a revocation through this process: effective at once here)."""
        self._tokens.clear()

    def check_submit_rate(self, tenant: str) -> None:
        """ApiError 429 (with Retry-After) when `tenant` is over its submission rate."""
        if self._submit_rate is None:
            from cpnet.api.ratelimit import TokenBucket

            self._submit_rate = TokenBucket(self.limits.submit_rate_per_s, self.limits.submit_burst)
        wait = self._submit_rate.take(tenant)
        if wait:
            from cpnet.api.ratelimit import retry_after

            rate, burst = self.limits.submit_rate_per_s, self.limits.submit_burst
            after = retry_after(wait)
            raise ApiError(
                429,
                f"submission rate limit: {rate:g} submissions/s per tenant (burst {burst}); retry in {after} s",
                headers={"Retry-After": after},
                extra={"limit": "submit_rate_per_s", "value": rate},
            )


def _field_errors(errors: Any) -> str:
    parts = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path")]
        parts.append(f"{'.'.join(loc) or 'body'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


async def _api_error(_r: Request | None, exc: ApiError) -> JSONResponse:
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    elif exc.status == 413:
        headers["Connection"] = "close"  # the rest of the body is not read
    return JSONResponse({"error": exc.message, **exc.extra}, status_code=exc.status, headers=headers or None)


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
    (ApiError, _api_error),
    (RequestValidationError, _invalid),
    (InvalidTransition, _conflict),
    (CpnetError, _user_error),
)


async def error_response(exc: Exception) -> JSONResponse | None:
    """The JSON error answer the app gives for `exc`; None for an unexpected exception (a 500)."""
    for cls, handler in ERROR_HANDLERS:
        if isinstance(exc, cls):
            return await handler(None, exc)
    return None


WEB_PREFIX = "/ui/"  # the web dashboard's static files (cpnet.api.web)
PRINCIPAL_KEY = "cpnet.principal"  # scope key: the caller, authenticated before the body is read


class ControlPlaneApp(FastAPI):
    """FastAPI behind a front door that every HTTP request passes first:

    1. The bearer token is checked from the headers (`deps.principal_of`, the one token check)
       before any byte of the body is read; the caller is left in `scope[PRINCIPAL_KEY]`, where
       `deps.principal` finds it. Public: /healthz, the OpenAPI document and its pages, the web
       dashboard's files (/ and /ui/..., which hold no data: the pages ask the API with the token
       the user pastes), and OPTIONS.
    2. Every body is capped (`Limits.max_submit_body_bytes` for POST /v1/jobs and /v1/jobs:batch, `max_body_bytes`
       elsewhere): a Content-Length over the cap is answered 413 before reading; a body that grows
       past it is answered 413 then (the application reads `http.disconnect`).
    3. POST /v1/jobs (the hot path) goes straight to `cpnet.api.submit_asgi`.
    4. Every answered request is logged (`cpnet.api.server_log`), with the caller's tenant.
    """

    submit_handler: Callable[[Services, Any, Any, Any], Awaitable[None]] | None = None  # set by create_app
    public_paths: frozenset[str] = frozenset({"/healthz"})  # set by create_app
    public_prefixes: tuple[str, ...] = ()  # set by create_app
    authenticate: Callable[[Services, str | None], Awaitable[Principal]] | None = None  # deps.principal_of, set by create_app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        answered = _Answered(send)
        try:
            await self._serve(scope, receive, answered.send)
        finally:
            who = scope.get(PRINCIPAL_KEY)
            tenant = None if who is None else ("admin" if who.admin else f"admin:{who.scope}" if who.scope else who.tenant_id)
            log_request(scope["method"], scope["path"], answered.status, started, tenant)

    async def _serve(self, scope: Any, receive: Any, send: Any) -> None:
        services: Services = self.state.services
        submit = scope["method"] == "POST" and scope["path"] in _SUBMIT_PATHS and self.submit_handler is not None
        big = submit or (scope["method"] == "POST" and scope["path"] == "/v1/jobs:batch")  # a list of job specs
        cap = services.limits.max_submit_body_bytes if big else services.limits.max_body_bytes
        authorization = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is None:
                    authorization = value
            elif name == b"content-length":
                length = value
        try:
            path = scope["path"]
            public = path in self.public_paths or path.startswith(self.public_prefixes)
            if scope["method"] != "OPTIONS" and not public and self.authenticate is not None:
                who = scope[PRINCIPAL_KEY] = await self.authenticate(services, None if authorization is None else authorization.decode("latin-1"))
                if who.scope is not None and not path.startswith(NODE_ADMIN_PATHS):
                    raise ApiError(
                        403,
                        f"an org's or a team's admin token ('{who.scope}') manages its tenants and tokens only (/v1/tenants, /v1/tokens); use a tenant token here",
                    )
            if length is not None and length.isdigit() and int(length) > cap:
                raise ApiError(413, f"request body over {_size(cap)}")
        except ApiError as exc:
            await (await _api_error(None, exc))(scope, receive, send)
            return
        if submit:
            await self.submit_handler(services, scope, receive, send)  # type: ignore[misc]
            return
        capped = _CappedBody(scope, receive, send, cap)
        await super().__call__(scope, capped.receive, capped.send)


class _Answered:
    """`send` that remembers the response's status, for the request log (500: none was sent)."""

    __slots__ = ("_send", "status")

    def __init__(self, send: Any) -> None:
        self._send = send
        self.status = 500

    async def send(self, msg: Any) -> None:
        if msg["type"] == "http.response.start":
            self.status = msg["status"]
        await self._send(msg)


_SUBMIT_PATHS = frozenset({"/v1/jobs", "/v1/jobs/"})
NODE_ADMIN_PATHS = ("/v1/tenants", "/v1/tokens", "/v1/whoami")  # what an org's or a team's admin token may call (routers/admin.py)


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


class _CappedBody:
    """`receive` and `send` for the FastAPI stack that stop a body at `cap` bytes with a 413."""

    __slots__ = ("scope", "_receive", "_send", "cap", "size", "started", "refused")

    def __init__(self, scope: Any, receive: Any, send: Any, cap: int) -> None:
        self.scope, self._receive, self._send, self.cap = scope, receive, send, cap
        self.size = 0
        self.started = self.refused = False

    async def receive(self) -> Any:
        msg = await self._receive()
        if msg["type"] == "http.request" and not self.refused:
            self.size += len(msg.get("body", b""))
            if self.size > self.cap:
                self.refused = True
                if not self.started:
                    self.started = True
                    await (await _api_error(None, ApiError(413, f"request body over {_size(self.cap)}")))(self.scope, self._receive, self._send)
        if self.refused:
            return {"type": "http.disconnect"}
        return msg

    async def send(self, msg: Any) -> None:
        if self.refused:  # the 413 was the answer
            return
        if msg["type"] == "http.response.start":
            self.started = True
        await self._send(msg)


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if services.on_start:
            services.on_start()
        yield
        if services.on_stop:
            services.on_stop()

    app = ControlPlaneApp(title="cpnet control plane", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)  # /docs: cpnet.api.openapi, no CDN
    app.state.services = services
    app.public_paths = frozenset(p for p in ("/", "/healthz", app.openapi_url, "/docs") if p)
    app.public_prefixes = (WEB_PREFIX,)
    for cls, handler in ERROR_HANDLERS:
        app.add_exception_handler(cls, handler)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from cpnet.api.routers import admin, dashboard, invoices, jobs, offers, sites, usage
    from cpnet.api.submit_asgi import handle_submit

    for r in (jobs.router, sites.router, usage.router, invoices.router, admin.router, dashboard.router, offers.router):
        app.include_router(r)
    app.submit_handler = handle_submit
    from cpnet.api.prom import router as metrics_router

    app.include_router(metrics_router)  # GET /metrics for Prometheus (admin token): cpnet.api.prom
    from cpnet.api.web import install as install_web

    install_web(app)  # the dashboard: / and /ui/... (cpnet.web's static files)
    from cpnet.api.deps import principal_of

    app.authenticate = principal_of
    from cpnet.api.openapi import install as install_openapi

    install_openapi(app, services.known_models)  # OpenAPI docs (catalog enum, error answers), OPTIONS, 404/405 bodies
    return app
