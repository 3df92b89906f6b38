"""What the OpenAPI document promises, and the answers that keep it true.

- Every error answer the routes can give is documented with its JSON body (`errors(...)` for the
  route-specific ones; `install` adds the generic ones: 401 where a token is needed, 413 and 422
  where there is a body or parameters).
- The bearer token is a security scheme, not an `authorization` header parameter.
- `JobSubmit.accelerator` is typed as the catalog's enum, known only once the app is made
  (`Services.known_models`).
- OPTIONS answers 204 with an `Allow` header on every path (POST /v1/jobs included); a method a
  path does not take answers 405 with the full `Allow` list; a path that does not exist, 404. Both
  with the usual `{"error": ...}` body.
- `/docs` is Swagger UI from the package (`/ui/vendor/swagger-ui/`, see its README.md), not from a CDN, so
  it works without internet. There is no ReDoc page (`/redoc`): it would be a second copy of the
  same document needing another megabyte of vendored JavaScript; and no OAuth2 redirect page, the
  security scheme being a bearer token.

`install(app, services)` is called once by `create_app`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi import routing as fastapi_routing
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import compile_path

from cpnet.api.schemas import JobSubmit


class ErrorBody(BaseModel):
    error: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    error: str
    detail: list[ValidationIssue]


_DESCRIPTIONS = {
    400: "the request cannot be done as asked (e.g. the job changed too often to cancel; retry)",
    401: "missing, malformed or unknown bearer token",
    403: "the token may not do this (an admin endpoint with a tenant token, or a tenant endpoint with the admin token)",
    404: "no such resource (another tenant's job answers exactly like a missing one)",
    405: "the path does not take this method; `Allow` lists those it takes",
    409: "conflicts with the resource's state (already exists, already ended)",
    413: "request body too large",
    422: "invalid parameter or body; `error` names the field",
    429: "too many requests or queued jobs for this tenant; retry after `Retry-After` seconds",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    405: {"Allow": {"description": "the methods the path takes", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def error_doc(code: int) -> dict[str, Any]:
    """The OpenAPI answer for one error code: always JSON, whatever the route's own media type."""
    doc: dict[str, Any] = {
        "description": _DESCRIPTIONS[code],
        "content": {"application/json": {"schema": _ref("ValidationErrorBody" if code == 422 else "ErrorBody")}},
    }
    if code in _HEADERS:
        doc["headers"] = _HEADERS[code]
    return doc


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the JSON error answers it gives beyond the generic ones."""
    return {code: error_doc(code) for code in codes}


_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


def _add_model(schemas: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(doc.pop("$defs", {}))
    schemas[model.__name__] = doc
    return doc


def build_openapi(app: FastAPI, known_models: frozenset[str]) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (ErrorBody, ValidationErrorBody):
        _add_model(schemas, model)
    submit = _add_model(schemas, JobSubmit)
    if known_models:
        submit["properties"]["accelerator"]["anyOf"] = [{"type": "string", "enum": sorted(known_models)}, {"type": "null"}]
    schemas["JobSubmit"] = submit
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer", "description": "a tenant or admin token"}}
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if method not in _METHODS:
                continue
            params = op.get("parameters", [])
            authed = any(p.get("in") == "header" and p.get("name", "").lower() == "authorization" for p in params)
            params = [p for p in params if not (p.get("in") == "header" and p.get("name", "").lower() == "authorization")]
            if params:
                op["parameters"] = params
            else:
                op.pop("parameters", None)
            responses = op.setdefault("responses", {})
            body = op.get("requestBody")
            if body is not None and path.rstrip("/") == "/v1/jobs" and method == "post":
                body["content"] = {"application/json": {"schema": _ref("JobSubmit")}}
                authed = True  # served by cpnet.api.submit_asgi, which checks the token itself
            if authed:
                op["security"] = [{"bearer": []}]
                responses.setdefault("401", error_doc(401))
            if body is not None:
                responses.setdefault("413", error_doc(413))
            if body is not None or params:
                responses["422"] = error_doc(422)  # our body, not FastAPI's HTTPValidationError
            else:  # only the Authorization header was a parameter, and it cannot fail validation
                responses.pop("422", None)
            op["responses"] = dict(sorted(responses.items()))
    text = str(schema["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}'" not in text:
            schemas.pop(unused, None)
    return schema


def _route_table(app: FastAPI) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    # FastAPI 0.16x keeps included routers lazily (`_IncludedRouter`); iter_route_contexts flattens them.
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    routes = list(iterate(app.router.routes)) if iterate is not None else list(app.router.routes)
    table = []
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path is not None and methods:
            table.append((compile_path(path)[0], frozenset(methods)))
    return table


def allowed_methods(app: FastAPI, scope: Mapping[str, Any]) -> set[str] | None:
    """The methods the routes at scope's path take, OPTIONS included; None when no route has that path."""
    table = getattr(app.state, "_cpnet_route_table", None)
    if table is None:
        table = _route_table(app)
        app.state._cpnet_route_table = table
    found = [methods for regex, methods in table if regex.match(scope["path"])]
    if not found:
        return None
    return set().union(*found) | {"OPTIONS"}


def _allow(methods: set[str]) -> str:
    return ", ".join(sorted(methods))


class OptionsMiddleware:
    """OPTIONS on any path: 204 with `Allow` (no token needed: it tells no more than /openapi.json),
    or 404 for a path that does not exist. The submit shortcut only takes POST, so this sees
    every OPTIONS request, /v1/jobs included."""

    def __init__(self, app: Any, api: FastAPI) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)
            return
        methods = allowed_methods(self.api, scope)
        if methods is None:
            response: Any = JSONResponse({"error": f"no such path '{scope['path']}'"}, status_code=404)
        else:
            response = Response(status_code=204, headers={"Allow": _allow(methods)})
        await response(scope, receive, send)


_FASTAPI_UNPARSABLE = "There was an error parsing the body"


def _http_error(app: FastAPI) -> Any:
    async def handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 400 and exc.detail == _FASTAPI_UNPARSABLE:
            # FastAPI's answer to a body that is not UTF-8: a 422 like any other invalid body (as
            # POST /v1/jobs, which pydantic parses, answers it).
            msg = "not valid JSON (UTF-8 expected)"
            return JSONResponse({"error": f"body: {msg}", "detail": [{"loc": ["body"], "msg": msg, "type": "json_invalid"}]}, status_code=422)
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no such path '{request.url.path}'"
        elif exc.status_code == 405:
            methods = allowed_methods(app, request.scope) or set()
            headers["Allow"] = _allow(methods)
            message = f"{request.method} is not allowed on '{request.url.path}'; allowed: {headers['Allow']}"
        else:
            message = str(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=headers or None)

    return handler


DOCS_URL = "/docs"  # public: create_app lists it in ControlPlaneApp.public_paths
SWAGGER_UI = "/ui/vendor/swagger-ui/"  # cpnet/web/static/vendor/swagger-ui/, served by cpnet.api.web


def docs_html(app: FastAPI) -> HTMLResponse:
    """The Swagger UI page for the app's OpenAPI document, every asset from this server."""
    return get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{SWAGGER_UI}swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI}swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_UI}favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # never ask validator.swagger.io about the document
    )


def install(app: FastAPI, known_models: frozenset[str]) -> None:
    """Hook for `create_app`: the OpenAPI document with the catalog's enum and every error answer,
    its Swagger UI page at /docs (FastAPI's own, from a CDN, is off: `docs_url=None`), and
    OPTIONS / 404 / 405 answered like every other error."""
    cached: dict[str, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        if "doc" not in cached:
            cached["doc"] = build_openapi(app, known_models)
        return cached["doc"]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> HTMLResponse:
        return docs_html(app)

    app.add_exception_handler(StarletteHTTPException, _http_error(app))
    app.add_middleware(OptionsMiddleware, api=app)
