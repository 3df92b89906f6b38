"""Jobs: submit (idempotent), list, get, cancel, logs, events. A tenant sees only its own jobs;
another tenant's job answers 404 exactly like a missing one."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from fastapi.exceptions import RequestValidationError

from cpnet.api.app import ApiError, Services
from cpnet.api.deps import Caller, Svc, principal_of, services_of
from cpnet.api.schemas import JobSubmit
from cpnet.control.reconciler import job_log_path
from cpnet.control.store.store import JobRecord, Principal
from cpnet.core.states import TERMINAL_JOB_STATES, JobState

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
MAX_LOG_CHUNK = 1 << 20


def job_json(job: JobRecord, emulated: bool = False) -> dict[str, Any]:
    s = job.spec
    return {
        "id": job.id, "tenant": job.tenant_id, "state": job.state.value, "idempotency_key": job.idempotency_key,
        "command": s.get("command"), "accelerator": s.get("accelerator"), "devices": s.get("devices", 1),
        "job_type": s.get("job_type"), "priority_weight": s.get("priority_weight", 1.0), "data_site": s.get("data_site"), "sites": s.get("sites"),
        "env": s.get("env", {}), "submitted_s": job.submitted_s, "started_s": job.started_s, "finished_s": job.finished_s,
        "placement": None if job.site is None else {"site": job.site, "accelerator": job.accelerator, "devices": job.num_devices, "emulated": emulated},
        "attempt": job.attempt, "exit_code": job.exit_code, "reason": job.reason,
    }


def _visible(svc: Services, who: Principal, job_id: str) -> JobRecord:
    job = svc.store.get_job(job_id)
    if job is None or not (who.admin or job.tenant_id == who.tenant_id):
        raise ApiError(404, f"no job '{job_id}'")
    return job


def _emulated(svc: Services, job: JobRecord) -> bool:
    if job.site is None:
        return False
    rec = svc.store.get_site(job.site)
    return rec is not None and job.accelerator in rec.site.emulated


def _reject(field: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": msg, "type": "value_error"}])


_SUBMIT_DOC = {"requestBody": {"required": True, "content": {"application/json": {"schema": JobSubmit.model_json_schema(ref_template="#/components/schemas/{model}")}}}}


@router.post("", status_code=201, response_model=None, openapi_extra=_SUBMIT_DOC, responses={201: {"description": "created"}, 200: {"description": "an earlier job with this idempotency key"}, 422: {"description": "invalid spec; `error` names the field"}})
async def submit(request: Request) -> Response:
    """Submit a job (body: JobSubmit). Answers 201 (new) or 200 (same idempotency key as an earlier
    job) only after the job is committed.

    The running service answers this route from `cpnet.api.submit_asgi` (same function below,
    without FastAPI's per-request machinery); this declaration documents it in OpenAPI and serves
    an app mounted without that shortcut.
    """
    status, payload = await submit_body(services_of(request), request.headers.get("authorization"), await request.body())
    return Response(payload, status_code=status, media_type="application/json")


async def submit_body(svc: Services, authorization: str | None, raw: bytes) -> tuple[int, bytes]:
    """Authenticate, validate and commit one submission; (HTTP status, JSON body).

    Raises ApiError (401/403) or RequestValidationError (422) like any route."""
    who = await principal_of(svc, authorization)
    if who.tenant_id is None:
        raise ApiError(403, "jobs are submitted with a tenant token, not an admin token")
    try:
        body = JobSubmit.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None
    if body.accelerator is not None and body.accelerator not in svc.known_models:
        raise _reject("accelerator", f"unknown accelerator '{body.accelerator}'; valid: {', '.join(sorted(svc.known_models))}")
    if body.job_type is not None and not svc.throughput.knows(body.job_type):
        raise _reject("job_type", f"unknown job type '{body.job_type}'")
    spec = body.model_dump(exclude_none=True, exclude={"idempotency_key"})
    key = body.idempotency_key or uuid.uuid4().hex
    job, created = await svc.submitter().submit(who.tenant_id, key, spec, svc.clock.now())
    # Serialized here: the payload is plain JSON types, so FastAPI's generic encoder is skipped.
    return (201 if created else 200), json.dumps(job_json(job)).encode()


@router.get("")
def list_jobs(
    svc: Svc, who: Caller,
    state: Annotated[list[JobState] | None, Query()] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[int, Query(ge=0, description="cursor: the `next` of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    owner = tenant if who.admin else who.tenant_id
    rows = svc.store.list_jobs(owner, [s.value for s in state or []], after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"jobs": [job_json(j) for j in rows], "next": rows[-1].seq if more else None}


@router.get("/{job_id}")
def get_job(job_id: str, svc: Svc, who: Caller) -> dict[str, Any]:
    job = _visible(svc, who, job_id)
    return job_json(job, _emulated(svc, job))


@router.post("/{job_id}/cancel")
def cancel(job_id: str, svc: Svc, who: Caller) -> dict[str, Any]:
    job = _visible(svc, who, job_id)
    if job.state in TERMINAL_JOB_STATES:
        raise ApiError(409, f"job '{job_id}' already ended ({job.state.value})")
    return job_json(svc.store.cancel_job(job_id, svc.clock.now(), f"cancelled by {'admin' if who.admin else who.tenant_id}"))


@router.get("/{job_id}/events")
def events(job_id: str, svc: Svc, who: Caller) -> dict[str, Any]:
    _visible(svc, who, job_id)
    evs = svc.store.job_events(job_id)
    return {"events": [{k: e[k] for k in ("t_s", "kind", "from_state", "to_state", "message")} for e in evs]}


@router.get("/{job_id}/logs")
def logs(job_id: str, svc: Svc, who: Caller, offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    """Bytes of stdout+stderr from `offset`; header X-Next-Offset, X-Job-State for followers."""
    job = _visible(svc, who, job_id)
    path = job_log_path(svc.run_dir, job_id)
    data = b""
    if path.exists():
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(MAX_LOG_CHUNK)
    headers = {"X-Next-Offset": str(offset + len(data)), "X-Job-State": job.state.value}
    return Response(data, media_type="text/plain; charset=utf-8", headers=headers)
