"""POST /v1/jobs as a bare ASGI handler: the service's hot path.

Per request, FastAPI's middleware stack, routing and dependency solving cost more CPU than
authenticating, validating, committing and answering a submission together, and the server has
one GIL for the API, the group-commit writer and the reconciler. `ControlPlaneApp` therefore
sends this one route here before that stack. The contract stays the route's (documented in
OpenAPI by `routers/jobs.py`): `submit_body` does the same auth, the same pydantic validation with
the same 422 messages, and answers only after the job is committed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cpnet.api.app import PRINCIPAL_KEY, ApiError, Services, _size, error_response
from cpnet.api.deps import principal_of
from cpnet.api.prom import observe_submission
from cpnet.api.routers.jobs import submit_body

log = logging.getLogger("cpnet.api")

_JSON = (b"content-type", b"application/json")


async def handle_submit(services: Services, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """`ControlPlaneApp` has checked the token (before the body) and a declared Content-Length.
    Each answered submission's latency goes to `cpnet_submission_duration_seconds` (cpnet.api.prom)."""
    t0 = time.perf_counter()
    who = scope.get(PRINCIPAL_KEY)
    authorization = None
    if who is None:  # called without the front door
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
    try:
        if who is None:
            who = await principal_of(services, authorization)
        raw = await _read_body(receive, services.limits.max_submit_body_bytes)
        if raw is None:  # the client went away before sending its body
            return
        status, payload = await submit_body(services, authorization, raw, who)
    except Exception as exc:
        response = await error_response(exc)
        if response is None:
            log.exception("submission failed")
            status, payload = 500, b'{"error":"internal error"}'
        else:
            await response(scope, receive, send)
            observe_submission(response.status_code, time.perf_counter() - t0)
            return
    await send({"type": "http.response.start", "status": status, "headers": [_JSON, (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
    observe_submission(status, time.perf_counter() - t0)


async def _read_body(receive: Any, cap: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise ApiError(413, f"request body over {_size(cap)}")
        chunks.append(chunk)
        if not msg.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
