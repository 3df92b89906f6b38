"""Jobs: submit (idempotent), list, get, cancel, logs, events, attempts. A tenant sees only its own
jobs; another tenant's job answers 404 exactly like a missing one.

Every route that names a job takes its id or a unique prefix of it (`3f9a1c`, `j-3f9a1c`), resolved
in `_visible` among the caller's jobs only: two of them with that prefix answer 409 with the
candidates, none 404 (so a tenant learns nothing of another tenant's jobs from a prefix)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from cpnet.api.app import PRINCIPAL_KEY, ApiError, Services
from cpnet.api.deps import Caller, Svc, principal_of, services_of
from cpnet.api.openapi import errors
from cpnet.api.routers.usage import attempt_usage
from cpnet.api.schemas import (
    ARRAY_INDEX_ENV,
    ARRAY_JOB_ID_ENV,
    CHECKPOINT_ENV,
    MAX_BATCH_JOBS,
    MAX_JOB_NAME,
    ByteOffset,
    Cursor,
    JobBatch,
    JobBatchAnswer,
    JobIdParam,
    JobSubmit,
    PageSize,
    TenantParam,
    parse_array,
)
from cpnet.control.jobspec import job_spec
from cpnet.control.reconciler import job_log_path
from cpnet.control.store.store import BatchKeyConflict, BatchOverLimit, JobRecord, Principal
from cpnet.core.model import JobSpec
from cpnet.core.states import TERMINAL_JOB_STATES, JobState

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
MAX_LOG_CHUNK = 1 << 20
MAX_CANDIDATES = 10  # ids listed in a 409 for an ambiguous prefix
_ID_PREFIX = re.compile(r"^(?:j-)?([0-9a-f]{1,16})$")
_LOG_HEADERS = {
    "X-Next-Offset": {"description": "offset to ask for next", "schema": {"type": "integer"}},
    "X-Job-State": {"description": "the job's state now", "schema": {"type": "string"}},
}


def job_json(job: JobRecord, emulated: bool = False, place: tuple[int, int] | None = None) -> dict[str, Any]:
    """The job; `place`: a pending job's (network, tenant) queue positions (Store.queue_positions)."""
    s = job.spec
    return {
        "id": job.id,
        "name": s.get("name"),
        "tenant": job.tenant_id,
        "state": job.state.value,
        "idempotency_key": job.idempotency_key,
        "command": s.get("command"),
        "accelerator": s.get("accelerator"),
        "devices": s.get("devices", 1),
        "job_type": s.get("job_type"),
        "priority_weight": s.get("priority_weight", 1.0),
        "data_site": s.get("data_site"),
        "data_gb": s.get("data_gb", 0.0),
        "deadline_s": s.get("deadline_s"),
        "sites": s.get("sites"),
        "env": s.get("env", {}),
        "workdir": s.get("workdir"),
        "checkpoint": bool(s.get("checkpoint", False)),
        "preemptible": bool(s.get("preemptible", False)),
        "total_steps": s.get("total_steps"),
        "batch_id": s.get("batch_id"),
        "array_index": s.get("array_index"),
        "submitted_s": job.submitted_s,
        "started_s": job.started_s,
        "finished_s": job.finished_s,
        "placement": None if job.site is None else {"site": job.site, "accelerator": job.accelerator, "devices": job.num_devices, "emulated": emulated},
        "attempt": job.attempt,
        "exit_code": job.exit_code,
        "reason": job.reason,
        "position": None if place is None else place[0],
        "tenant_position": None if place is None else place[1],
    }


def job_summary_json(row: Mapping[str, Any], place: tuple[int, int] | None = None) -> dict[str, Any]:
    """A job in a list: its name, state, placement and outcome, of bounded size (no command, env, sites);
    a pending job's queue positions (`position` in the network, `tenant_position` in its tenant's)."""
    return {
        "id": row["id"],
        "name": row.get("name"),
        "tenant": row["tenant_id"],
        "state": row["state"],
        "idempotency_key": row["idempotency_key"],
        "submitted_s": row["submitted_s"],
        "started_s": row["started_s"],
        "finished_s": row["finished_s"],
        "placement": None if row["site"] is None else {"site": row["site"], "accelerator": row["accelerator"], "devices": row["num_devices"]},
        "attempt": row["attempt"],
        "exit_code": row["exit_code"],
        "reason": row["reason"],
        "position": None if place is None else place[0],
        "tenant_position": None if place is None else place[1],
    }


def _visible(svc: Services, who: Principal, job_id: str) -> JobRecord:
    """The caller's job named by `job_id`: its id, or a prefix of the ids of the caller's jobs that
    only one of them has (404 for none, 409 for several; another tenant's jobs are never looked at)."""
    job = svc.store.get_job(job_id)
    if job is not None and (who.admin or job.tenant_id == who.tenant_id):
        return job
    m = _ID_PREFIX.match(job_id.lower())
    if m is not None:
        ids = svc.store.job_ids_with_prefix("j-" + m.group(1), None if who.admin else who.tenant_id, MAX_CANDIDATES + 1)
        if len(ids) > 1:
            more = " and more" if len(ids) > MAX_CANDIDATES else ""
            shown = ids[:MAX_CANDIDATES]
            raise ApiError(409, f"'{job_id}' is the start of several jobs' ids ({', '.join(shown)}{more}); give more of it", extra={"candidates": shown})
        if ids and (job := svc.store.get_job(ids[0])) is not None:
            return job
    raise ApiError(404, f"no job '{job_id}'")


def _emulated(svc: Services, job: JobRecord) -> bool:
    if job.site is None:
        return False
    rec = svc.store.get_site(job.site)
    return rec is not None and job.accelerator in rec.site.emulated


def _reject(field: str, msg: str, at: tuple[str | int, ...] = ()) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", *at, field), "msg": msg, "type": "value_error"}])


def checked_spec(
    svc: Services, tenant: str, body: JobSubmit, at: tuple[str | int, ...] = (), refusals: dict[JobSpec, str | None] | None = None
) -> dict[str, Any]:
    """The spec to store for a job that passed JobSubmit's schema, after the checks the schema
    cannot make: a known accelerator and job type, an existing workdir (local executor), a site that
    could ever run it. Each failure is a 422 at `at` + the field (`at`: where the job is in a batch).
    `refusals`: the admission answers of a batch so far, by the scheduler's view of the job (all
    that the answer depends on), so a batch asks once per distinct shape."""
    if body.accelerator is not None and body.accelerator not in svc.known_models:
        raise _reject("accelerator", f"unknown accelerator '{body.accelerator}'; valid: {', '.join(sorted(svc.known_models))}", at)
    if body.job_type is not None and not svc.throughput.knows(body.job_type):
        raise _reject("job_type", f"unknown job type '{body.job_type}'", at)
    if body.workdir is not None and svc.local_workdirs and not os.path.isdir(body.workdir):
        raise _reject("workdir", f"'{body.workdir}' is not a directory on the machine that runs the jobs", at)
    spec = body.model_dump(exclude_none=True, exclude={"idempotency_key"})
    if body.checkpoint:  # the job's own switch: it runs with CPNET_CHECKPOINT=1 (JobSubmit.checkpoint)
        spec["env"] = {**spec["env"], CHECKPOINT_ENV: "1"}
    if refusals is None:
        why = svc.admission().refusal(tenant, spec)
    elif (shape := job_spec("admission", tenant, spec, 0.0)) in refusals:
        why = refusals[shape]
    else:
        why = refusals[shape] = svc.admission().refusal(tenant, spec)
    if why is not None:
        if at:
            raise RequestValidationError([{"loc": ("body", *at), "msg": f"no site can ever run it: {why}", "type": "value_error"}])
        raise _reject("job", f"no site can ever run it: {why}")
    return spec


_SUBMIT_DOC = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": JobSubmit.model_json_schema(ref_template="#/components/schemas/{model}")}}}
}


_JOB_DOC = {"content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}}


@router.post(
    "",
    status_code=201,
    response_model=None,
    openapi_extra=_SUBMIT_DOC,
    responses={
        201: {"description": "created", **_JOB_DOC},
        200: {"description": "an earlier job with this idempotency key", **_JOB_DOC},
        **errors(403, 413, 429),
    },
)
async def submit(request: Request) -> Response:
    """Submit a job (body: JobSubmit). Answers 201 (new) or 200 (same idempotency key as an earlier
    job) only after the job is committed.

    The running service answers this route from `cpnet.api.submit_asgi` (same function below,
    without FastAPI's per-request machinery); this declaration documents it in OpenAPI and serves
    an app mounted without that shortcut.
    """
    who = request.scope.get(PRINCIPAL_KEY)  # checked by ControlPlaneApp before the body was read
    status, payload = await submit_body(services_of(request), request.headers.get("authorization"), await request.body(), who)
    return Response(payload, status_code=status, media_type="application/json")


async def submit_body(svc: Services, authorization: str | None, raw: bytes, who: Principal | None = None) -> tuple[int, bytes]:
    """Authenticate (unless `who` was), check the tenant's rate, validate and commit one
    submission; (HTTP status, JSON body).

    Raises ApiError (401/403/429) or RequestValidationError (422) like any route."""
    if who is None:
        who = await principal_of(svc, authorization)
    if who.tenant_id is None:
        raise ApiError(403, "jobs are submitted with a tenant token, not an admin token")
    svc.check_submit_rate(who.tenant_id)
    try:
        body = JobSubmit.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None
    spec = checked_spec(svc, who.tenant_id, body)
    key = body.idempotency_key or uuid.uuid4().hex
    job, created = await svc.submitter().submit(who.tenant_id, key, spec, svc.clock.now())
    # Serialized here: the payload is plain JSON types, so FastAPI's generic encoder is skipped.
    return (201 if created else 200), json.dumps(job_json(job)).encode()


def _batch_schema() -> dict[str, Any]:
    doc = JobBatch.model_json_schema(ref_template="#/components/schemas/{model}")
    doc.pop("$defs", None)  # JobSubmit: a component of the document (cpnet.api.openapi)
    return doc


_BATCH_DOC = {"requestBody": {"required": True, "content": {"application/json": {"schema": _batch_schema()}}}}
_BATCH_ANSWER = {"content": {"application/json": {"schema": JobBatchAnswer.model_json_schema()}}}
MAX_LISTED_ERRORS = 20  # a batch's 422 names at most this many problems (the first ones)


@router.post(
    ":batch",
    status_code=201,
    response_model=None,
    openapi_extra=_BATCH_DOC,
    responses={
        201: {"description": "created: every job of the batch", **_BATCH_ANSWER},
        200: {"description": "the batch an earlier request with this idempotency key and body created", **_BATCH_ANSWER},
        **errors(403, 409, 429),
    },
)
async def submit_batch(request: Request, svc: Svc, who: Caller) -> Response:
    """Submit many jobs in one request and one transaction (body: JobBatch): `spec` once per index
    of `array` (Slurm's `--array` syntax: `1-10000`, `0-15:4`, `1,3,5-7`), or a list `jobs`. At
    most 10,000 jobs (MAX_BATCH_JOBS). Each job runs with CPNET_ARRAY_INDEX (its array index, or its
    position in `jobs`) and CPNET_ARRAY_JOB_ID (the batch id); an array job's name is
    `<name>_<index>` (`<batch id>_<index>` without a name).

    Every job is checked as POST /v1/jobs checks one; a bad one refuses the whole batch with a 422
    naming it (`jobs[17].devices: ...`), and nothing is stored. The tenant's queued-job limit
    counts the whole batch (429, nothing stored). Answers 201 `{batch_id, ids, count}` after the
    commit; the same idempotency key and body again: 200 with the same jobs; the same key with
    another body: 409. A batch takes one token of the tenant's submission rate."""
    if who.tenant_id is None:
        raise ApiError(403, "jobs are submitted with a tenant token, not an admin token")
    svc.check_submit_rate(who.tenant_id)
    raw = await request.body()
    status, payload = await run_in_threadpool(batch_body, svc, who.tenant_id, raw)
    return Response(payload, status_code=status, media_type="application/json")


def _where(loc: Sequence[Any]) -> str:
    """A body location as a user writes it: `jobs[17].env.FOO`, `spec.devices`."""
    out = ""
    for part in loc:
        if part == "body":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _batch_invalid(errs: Sequence[Mapping[str, Any]]) -> ApiError:
    """A 422 for a batch: `error` names the first problems by where they are (`jobs[17].devices`)."""
    clean = []
    for e in errs[:MAX_LISTED_ERRORS]:
        loc = ["body", *(p for p in e.get("loc", ()) if p != "body")]
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "too_long" and loc == ["body", "jobs"]:
            msg = f"{(e.get('ctx') or {}).get('actual_length', 'too many')} jobs, more than the {MAX_BATCH_JOBS} one batch may have; split it into several batches"
        clean.append({"loc": loc, "msg": msg, "type": str(e.get("type", "value_error"))})
    text = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in clean[:3])
    if len(errs) > 3:
        text += f" (and {len(errs) - 3} more problem{'s' if len(errs) > 4 else ''})"
    return ApiError(422, text, extra={"detail": clean})


def _batch_reject(loc: tuple[str | int, ...], msg: str) -> ApiError:
    return _batch_invalid([{"loc": loc, "msg": msg, "type": "value_error"}])


def batch_body(svc: Services, tenant: str, raw: bytes) -> tuple[int, bytes]:
    """Validate and commit one batch (`submit_batch`); (HTTP status, JSON body). Blocking: run it
    off the event loop. Raises ApiError (409, 422, 429)."""
    try:
        body = JobBatch.model_validate_json(raw)
    except ValidationError as exc:
        raise _batch_invalid(exc.errors(include_url=False)) from None
    if body.jobs is not None:
        if body.spec is not None or body.array is not None:
            raise _batch_reject(("jobs",), "give either jobs (a list of job specs) or spec and array, not both")
        specs = _listed_specs(svc, tenant, body.jobs)
        indices: Sequence[int] = range(len(specs))
        content: Any = specs
    else:
        what = "give spec (one job spec) and array (its indices, e.g. '1-100', '0-15:4', '1,3,5-7'), or jobs (a list of job specs)"
        if body.spec is None and body.array is None:
            raise _batch_reject((), what)
        if body.spec is None or body.array is None:
            raise _batch_reject(("array" if body.array is None else "spec",), f"missing: {what}")
        indices = parse_array(body.array)
        spec = _array_spec(svc, tenant, body.spec, indices[-1])
        content = [spec, indices]
    limit = svc.limits.max_queued_jobs
    if limit > 0 and len(indices) > limit:
        where = "jobs" if body.jobs is not None else "array"
        raise _batch_reject((where,), f"{len(indices)} jobs, more than tenant '{tenant}' may have pending, scheduled or running ({limit}); split the batch")
    key = body.idempotency_key or uuid.uuid4().hex
    # The batch's id names its content: the same key with the same body finds the same batch, with another body a conflict.
    batch_id = "b-" + hashlib.sha256(json.dumps([tenant, key, content], sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    texts = _array_texts(spec, batch_id, indices) if body.jobs is None else [_job_text(s, batch_id, i) for i, s in enumerate(specs)]
    try:
        ids, created = svc.store.submit_batch(tenant, batch_id, [f"{key}#{i}" for i in indices], texts, svc.clock.now(), max_live=limit)
    except BatchKeyConflict as exc:
        raise ApiError(409, str(exc), extra={"batch_id": exc.other_batch}) from None
    except BatchOverLimit as exc:
        raise ApiError(
            429,
            f"queued-job limit: {exc}; retry when some have finished, or submit at most {max(exc.limit - exc.live, 0)}",
            headers={"Retry-After": str(svc.limits.queue_full_retry_s)},
            extra={"limit": "max_queued_jobs", "value": exc.limit},
        ) from None
    if created and svc.batcher is not None:
        svc.batcher.recount(tenant)
    return (201 if created else 200), json.dumps({"batch_id": batch_id, "ids": ids, "count": len(ids)}).encode()


def _own_key(body: JobSubmit, at: tuple[str | int, ...]) -> None:
    if body.idempotency_key is not None:
        raise _batch_reject(
            (*at, "idempotency_key"), "a job of a batch has no key of its own: set idempotency_key on the batch (each job's is `<key>#<index>`)"
        )


def _checked(svc: Services, tenant: str, body: JobSubmit, at: tuple[str | int, ...], refusals: dict[JobSpec, str | None]) -> dict[str, Any]:
    try:
        return checked_spec(svc, tenant, body, at, refusals)
    except RequestValidationError as exc:
        raise _batch_invalid(list(exc.errors())) from None


def _array_spec(svc: Services, tenant: str, job: JobSubmit, last: int) -> dict[str, Any]:
    """An array's one spec, checked once: its jobs differ only in name and environment, which no
    check reads (and the name with the largest index appended must still fit)."""
    _own_key(job, ("spec",))
    if job.name is not None and len(job.name) + 1 + len(str(last)) > MAX_JOB_NAME:
        room = MAX_JOB_NAME - 1 - len(str(last))
        raise _batch_reject(("spec", "name"), f"each array job is named <name>_<index>, at most {MAX_JOB_NAME} characters: shorten the name to {room}")
    return _checked(svc, tenant, job, ("spec",), {})


def _listed_specs(svc: Services, tenant: str, jobs: list[JobSubmit]) -> list[dict[str, Any]]:
    """The spec of each job of `jobs`, each checked as POST /v1/jobs checks one."""
    out = []
    refusals: dict[JobSpec, str | None] = {}
    for n, job in enumerate(jobs):
        _own_key(job, ("jobs", n))
        out.append(_checked(svc, tenant, job, ("jobs", n), refusals))
    return out


def _job_text(spec: Mapping[str, Any], batch_id: str, index: int) -> str:
    """The stored spec (JSON) of a listed job: its own, plus the batch's id and its position."""
    env = {**spec["env"], ARRAY_JOB_ID_ENV: batch_id, ARRAY_INDEX_ENV: str(index)}
    return json.dumps({**spec, "env": env, "batch_id": batch_id, "array_index": index}, separators=(",", ":"))


def _array_texts(spec: Mapping[str, Any], batch_id: str, indices: Sequence[int]) -> list[str]:
    """The stored spec (JSON) of each job of an array: `_job_text`'s fields, with the name
    `<name>_<index>` (`<batch id>_<index>` without a name). Serialized once; per index only the
    parts that differ are written in (json.dumps per job would cost more than the insert)."""
    head = json.dumps({k: v for k, v in spec.items() if k not in ("name", "env")}, separators=(",", ":"))[:-1]  # '{"command":[...],...' (never empty)
    env = json.dumps(spec["env"], separators=(",", ":"))[1:-1]
    env += "," if env else ""
    name = json.dumps(spec.get("name") or batch_id)[:-1]  # '"sweep': the index goes inside the quotes
    b = json.dumps(batch_id)
    return [f'{head},"name":{name}_{i}","env":{{{env}"{ARRAY_JOB_ID_ENV}":{b},"{ARRAY_INDEX_ENV}":"{i}"}},"batch_id":{b},"array_index":{i}}}' for i in indices]


@router.get("")
def list_jobs(
    svc: Svc,
    who: Caller,
    state: Annotated[list[JobState] | None, Query(max_length=len(JobState))] = None,
    tenant: TenantParam = None,
    after: Cursor = 0,
    limit: PageSize = 100,
) -> dict[str, Any]:
    """Job summaries, oldest first (`job_summary_json`: no command, env or sites; the full job is
    GET /v1/jobs/{id}). A page ends after `limit` jobs or about `Limits.list_page_bytes` of JSON,
    whichever comes first; `next` is the cursor for the rest (null at the end)."""
    owner = tenant if who.admin else who.tenant_id
    rows = svc.store.list_job_summaries(owner, [s.value for s in state or []], after, limit + 1)
    places = svc.store.queue_positions([(r["id"], r["tenant_id"], r["seq"]) for r in rows[:limit] if r["state"] == JobState.PENDING.value])
    budget = svc.limits.list_page_bytes
    parts: list[str] = []
    size = 0
    nxt = None
    for i, row in enumerate(rows):
        part = json.dumps(job_summary_json(row, places.get(row["id"])), separators=(",", ":")) if i < limit else ""
        if i == limit or (parts and size + len(part) > budget):
            nxt = rows[i - 1]["seq"]
            break
        parts.append(part)
        size += len(part) + 1
    # Serialized here, once (its size is what the page is cut by).
    return Response(f'{{"jobs":[{",".join(parts)}],"next":{json.dumps(nxt)}}}', media_type="application/json")  # type: ignore[return-value]


@router.get("/{job_id}", responses=errors(404, 409))
def get_job(job_id: JobIdParam, svc: Svc, who: Caller) -> dict[str, Any]:
    """The job (`job_json`) and `short_id`: the shortest prefix of its hex digits that names it among
    the caller's jobs (at least 6), which every route here takes in place of the id."""
    job = _visible(svc, who, job_id)
    short = svc.store.short_job_ids([job.id], None if who.admin else who.tenant_id)
    place = svc.store.queue_positions([(job.id, job.tenant_id, job.seq)]).get(job.id) if job.state == JobState.PENDING else None
    return {**job_json(job, _emulated(svc, job), place), "short_id": short.get(job.id, job.id)}


@router.post("/{job_id}/cancel", responses=errors(400, 404, 409))
def cancel(job_id: JobIdParam, svc: Svc, who: Caller) -> dict[str, Any]:
    job = _visible(svc, who, job_id)
    if job.state in TERMINAL_JOB_STATES:
        raise ApiError(409, f"job '{job.id}' already ended ({job.state.value})")
    return job_json(svc.store.cancel_job(job.id, svc.clock.now(), f"cancelled by {'admin' if who.admin else who.tenant_id}"))


@router.get("/{job_id}/events", responses=errors(404, 409))
def events(job_id: JobIdParam, svc: Svc, who: Caller) -> dict[str, Any]:
    job = _visible(svc, who, job_id)
    evs = svc.store.job_events(job.id)
    return {"events": [{k: e[k] for k in ("t_s", "kind", "from_state", "to_state", "message")} for e in evs]}


@router.get("/{job_id}/attempts", responses=errors(404, 409))
def attempts(job_id: JobIdParam, svc: Svc, who: Caller) -> dict[str, Any]:
    """Each attempt's placement, times, device-seconds and energy (counted as `/v1/usage` counts them)."""
    job = _visible(svc, who, job_id)
    now = svc.clock.now()
    out = []
    for row in svc.store.job_attempts(job.id):
        site = svc.store.get_site(row["site"])
        u = attempt_usage(row, now, svc.catalog, site.site.pue if site is not None else 1.0)
        out.append(
            {
                "attempt": row["attempt"],
                "site": row["site"],
                "accelerator": row["accelerator"],
                "devices": row["num_devices"],
                "start_s": row["start_s"],
                "end_s": row["end_s"],
                "device_s": u.device_s,
                "device_s_source": u.device_s_source,
                "energy_kwh": u.energy_kwh,
                "energy_source": u.energy_source,
            }
        )
    return {"attempts": out}


@router.get("/{job_id}/logs", response_class=PlainTextResponse, responses={200: {"headers": _LOG_HEADERS}, **errors(404, 409)})
def logs(job_id: JobIdParam, svc: Svc, who: Caller, offset: ByteOffset = 0) -> Response:
    """Bytes of stdout+stderr from `offset`; header X-Next-Offset, X-Job-State for followers."""
    job = _visible(svc, who, job_id)
    path = job_log_path(svc.run_dir, job.id)
    data = b""
    if path.exists():
        with open(path, "rb") as f:
            if offset < os.fstat(f.fileno()).st_size:  # past the end: nothing (and no lseek, which may be EINVAL)
                f.seek(offset)
                data = f.read(MAX_LOG_CHUNK)
    headers = {"X-Next-Offset": str(offset + len(data)), "X-Job-State": job.state.value}
    return Response(data, media_type="text/plain; charset=utf-8", headers=headers)
