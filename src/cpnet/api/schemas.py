"""Request bodies and parameter bounds. Limits are part of the contract: a field or parameter past
its limit is a 422 naming it.

Types are strict (no number from a bool or a string, no int from a float), numbers are finite and
bounded, and no string that is stored or handed to an executor may hold a NUL byte (argv and env
can not carry one: the launch would fail on every retry; PostgreSQL refuses them). Names, keys and
paths may hold no control character at all. Each such rule is also written into the OpenAPI schema
as a `pattern`, so a client (or schemathesis) sees it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

# The largest integer any parameter takes (cursors, byte offsets): exact in every JSON client,
# JavaScript's Number included, and far below what SQLite, PostgreSQL or lseek() overflow on.
MAX_INT = 2**53 - 1

NO_NUL = r"^[^\u0000]*$"
NO_CONTROL = r"^[^\u0000-\u001f\u007f-\u009f]*$"
# "/" or "/a/b": absolute, no empty, "." or ".." component, no trailing "/", no control character.
ABSOLUTE_PATH = r"^(?:/|(?:/(?!\.\.?(?:/|$))[^/\u0000-\u001f\u007f-\u009f]+)+)$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def no_nul(v: str) -> str:
    i = v.find("\x00")
    if i >= 0:
        raise ValueError(f"must not contain a NUL byte (at index {i})")
    return v


def no_control(v: str) -> str:
    m = _CONTROL.search(v)
    if m:
        raise ValueError(f"must not contain control characters (U+{ord(m.group()):04X} at index {m.start()})")
    return v


def absolute_path(v: str) -> str:
    no_control(v)
    if not v.startswith("/"):
        raise ValueError("must be an absolute path (start with '/')")
    parts = v.split("/")[1:]
    if ".." in parts:
        raise ValueError("must not contain '..' components")
    if v != "/" and any(p in ("", ".") for p in parts):
        raise ValueError("must be a normalized path: no '.' or empty components, no trailing '/'")
    return v


def _documented(pattern: str) -> Any:
    return Field(json_schema_extra={"pattern": pattern})


# Short strings without control characters: model, site, region and job type names, keys.
Label = Annotated[str, StringConstraints(max_length=64), AfterValidator(no_control), _documented(NO_CONTROL)]
SiteName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(no_control), _documented(NO_CONTROL)]
JobType = Annotated[str, StringConstraints(max_length=128), AfterValidator(no_control), _documented(NO_CONTROL)]
MAX_JOB_NAME = 128
JobName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_JOB_NAME), AfterValidator(no_control), _documented(NO_CONTROL)]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(no_control), _documented(NO_CONTROL)]
Arg = Annotated[str, StringConstraints(min_length=1, max_length=4096), AfterValidator(no_nul), _documented(NO_NUL)]
EnvKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
EnvValue = Annotated[str, StringConstraints(max_length=4096), AfterValidator(no_nul), _documented(NO_NUL)]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Workdir = Annotated[str, StringConstraints(max_length=4096), AfterValidator(absolute_path), _documented(ABSOLUTE_PATH)]
# A dict key: no `pattern` in the schema (JSON Schema would read it as patternProperties).
Key = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(no_control)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
Inventory = dict[Key, Count]

# Set to "1" in the environment of a job submitted with `checkpoint: true` (JobSubmit).
CHECKPOINT_ENV = "CPNET_CHECKPOINT"

# Every body model (routers with their own body models use it too): unknown fields refused,
# strict types (no bool or string read as a number), finite numbers.
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class JobSubmit(BaseModel):
    """A job as a tenant submits it. The tenant comes from the token, never from the body."""

    model_config = STRICT

    name: JobName | None = Field(None, description="a name for people (lists show it); not unique, no control characters")
    command: list[Arg] = Field(min_length=1, max_length=256, description="argv; run without a shell; no NUL bytes")
    accelerator: Label | None = Field(None, description="catalog model key, or CPU; any when absent")
    devices: int = Field(1, ge=1, le=4096)
    job_type: JobType | None = Field(None, description="throughput profile; 'generic' when absent")
    total_steps: float | None = Field(None, gt=0, le=1e15, description="work in steps (scheduler estimate for real jobs)")
    idempotency_key: IdempotencyKey | None = Field(None, description="a resubmission with the same key returns the first job")
    priority_weight: float = Field(1.0, ge=1e-3, le=1000)
    env: dict[EnvKey, EnvValue] = Field(default_factory=dict, max_length=64, description="extra environment; values without NUL bytes")
    data_site: Label | None = None
    data_gb: float = Field(0.0, ge=0, le=1e9, description="size of the input data at data_site (GB); moving it delays the start")
    deadline_s: float | None = Field(None, gt=0, le=1e11, description="Unix time by which the job must finish; makes it deferrable")
    sites: list[SiteName] | None = Field(None, min_length=1, max_length=256, description="sites the job may run at; any when absent")
    workdir: Workdir | None = Field(None, description="absolute, normalized working directory on the site (no '..')")
    checkpoint: bool = Field(
        False, description=f"the job checkpoints into $CPNET_CHECKPOINT_DIR and resumes from it; it runs with {CHECKPOINT_ENV}=1 so it knows to"
    )
    preemptible: bool = Field(False, description="spot-like: billed at the tariff's preemptible discount; a preempting policy stops it before other jobs")

    @field_validator("env")
    @classmethod
    def _no_reserved(cls, env: dict[str, str]) -> dict[str, str]:
        reserved = sorted(k for k in env if k.startswith("CPNET_"))
        if reserved:
            raise ValueError(f"variables starting with CPNET_ are set by cpnet: {', '.join(reserved)}")
        return env


# -- batches: POST /v1/jobs:batch -----------------------------------------------------------------
MAX_BATCH_JOBS = 10_000  # jobs in one batch request (an array's indices or `jobs`)
MAX_ARRAY_INDEX = 4_000_000  # Slurm's largest: MaxArraySize is at most 4000001, so indices 0-4000000
# Set in the environment of every job of a batch (JobBatch): its array index (an array's index, or the
# job's position in `jobs`) and the batch's id.
ARRAY_INDEX_ENV = "CPNET_ARRAY_INDEX"
ARRAY_JOB_ID_ENV = "CPNET_ARRAY_JOB_ID"
_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+)(?::([0-9]+))?)?")  # fullmatch
ARRAY_SYNTAX = r"^[0-9]+(-[0-9]+(:[0-9]+)?)?(,[0-9]+(-[0-9]+(:[0-9]+)?)?)*$"


def parse_array(text: str) -> list[int]:
    """Slurm's `--array` index list: `7`, `1-10000`, `0-15:4` (every 4th), `1,3,5-7` and any
    comma-separated mix of those; sorted, each index once (overlaps are merged, as Slurm does).
    A `%N` suffix (Slurm: at most N tasks running at once) is refused: cpnet has no such limit.
    ValueError saying what is wrong (and how to write it)."""
    head, pct, throttle = text.partition("%")
    if pct:
        raise ValueError(f"'%{throttle}' (Slurm's limit on how many array jobs run at once) is not supported; drop it")
    if not head:
        raise ValueError("empty; expected indices such as '1-100', '0-15:4' or '1,3,5-7'")
    ranges: list[range] = []
    total = 0
    for part in head.split(","):
        m = _RANGE.fullmatch(part)
        if m is None:
            raise ValueError(f"'{part}' is not an index, a range FIRST-LAST or a stepped range FIRST-LAST:STEP (e.g. '1-100', '0-15:4', '1,3,5-7')")
        first, last, step = int(m.group(1)), int(m.group(2) or m.group(1)), int(m.group(3) or 1)
        if last < first:
            raise ValueError(f"'{part}': the range ends before it starts")
        if step < 1:
            raise ValueError(f"'{part}': the step must be at least 1")
        if last > MAX_ARRAY_INDEX:
            raise ValueError(f"'{part}': indices go up to {MAX_ARRAY_INDEX}")
        r = range(first, last + 1, step)
        total += len(r)
        if total > MAX_BATCH_JOBS:
            raise ValueError(f"more than {MAX_BATCH_JOBS} indices, the most one batch may have; split it into several batches")
        ranges.append(r)
    if len(ranges) == 1:
        return list(ranges[0])
    return sorted({i for r in ranges for i in r})


def _array_syntax(v: str) -> str:
    parse_array(v)
    return v


ArraySpec = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4096),
    AfterValidator(_array_syntax),
    Field(json_schema_extra={"pattern": ARRAY_SYNTAX}, description="Slurm's --array syntax: '1-10000', '0-15:4', '1,3,5-7'"),
]
# A batch's key: each job's own key is `<key>#<index>` (at most 128 characters with any index).
BatchKey = Annotated[str, StringConstraints(min_length=1, max_length=120), AfterValidator(no_control), _documented(NO_CONTROL)]


class JobBatch(BaseModel):
    """Many jobs in one request and one transaction: either `spec` run once per index of `array`
    (Slurm's job arrays), or `jobs`, a list of specs. Each job is checked as POST /v1/jobs checks
    one; a bad one refuses the whole batch, naming it. The key is the batch's (a spec here has none)."""

    model_config = STRICT

    spec: JobSubmit | None = Field(None, description="with array: the one job spec, run once per index (its name gets '_<index>')")
    array: ArraySpec | None = None
    jobs: list[JobSubmit] | None = Field(None, min_length=1, max_length=MAX_BATCH_JOBS, description="in place of spec and array: the jobs themselves")
    idempotency_key: BatchKey | None = Field(None, description="a resubmission with the same key and body returns the first batch; another body: 409")


class JobBatchAnswer(BaseModel):
    batch_id: str
    ids: list[str] = Field(description="the jobs' ids, in index order")
    count: int


CuPerS = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]


class BudgetBody(BaseModel):
    """At most `amount` per UTC calendar period, checked against the usage ledger (cpnet.sched.budget)."""

    model_config = STRICT
    amount: float = Field(gt=0, le=1e15, allow_inf_nan=False, description="USD, or CU x s with unit cu")
    unit: Literal["usd", "cu"] = "usd"
    period: Literal["day", "week", "month"] = "month"


class TenantFields(BaseModel):
    """What a node of the tenant tree may declare besides its place (cpnet.core.tenancy)."""

    model_config = STRICT
    weight: float = Field(1.0, ge=1e-3, le=1e6)
    quota_cu_s: CuPerS | None = Field(None, description="guaranteed CU/s of the subtree, all accelerator families together")
    family_quota_cu_s: dict[Label, CuPerS] = Field(default_factory=dict, max_length=64, description="accelerator family (vendor) -> guaranteed CU/s")
    borrowing_limit_cu_s: CuPerS | None = Field(None, description="how far the subtree's use may exceed its quota; none: no cap")
    lending_limit_cu_s: CuPerS | None = Field(None, description="how much of its unused quota others may use; none: all of it")
    budget: BudgetBody | None = None


class TenantCreate(TenantFields):
    """A new org, team or tenant. A team admin creates nodes only inside its own subtree (`parent` there)."""

    name: Name
    kind: Literal["tenant", "team", "org"] = "tenant"
    parent: Name | None = Field(None, description="an org or team; none: a root (an org, or a tenant of its own)")


class TenantUpdate(TenantFields):
    """Fields to change (those given); `null` clears a quota, a limit or the budget. Kind and parent stay."""

    weight: float = Field(1.0, ge=1e-3, le=1e6)


class SiteRegister(BaseModel):
    model_config = STRICT
    id: Name
    tier: str = Field("edge", pattern=r"^(cloud|edge|device)$")
    region: Label = "unknown"
    lat: float = Field(0.0, ge=-90, le=90)
    lon: float = Field(0.0, ge=-180, le=180)
    inventory: Inventory = Field(max_length=64)
    emulated: list[SiteName] = Field(default_factory=list, max_length=64)
    pue: float = Field(1.0, ge=1.0, le=5.0)
    price_usd_per_kwh: float = Field(0.1, ge=0, le=1000)
    carbon_g_per_kwh: float = Field(500.0, ge=0, le=10_000)
    power_cap_kw: float | None = Field(None, gt=0, le=1e7, description="facility draw limit; no placement takes the site over it")
    heartbeat_timeout_s: float | None = Field(60.0, ge=0.1, le=30 * 86400, description="seconds without a heartbeat before the site is down; null: never")


class Heartbeat(BaseModel):
    model_config = STRICT
    inventory: Annotated[Inventory, Field(max_length=64)] | None = None


# -- query and path parameters: every one bounded, so a wild value is a 422, never a 500 --------
_DOC_TEXT = {"pattern": NO_CONTROL}
JobIdParam = Annotated[
    str,
    Path(min_length=1, max_length=128, description="a job id, or a unique prefix of one (with or without 'j-')", json_schema_extra=_DOC_TEXT),
    AfterValidator(no_control),
]
SiteIdParam = Annotated[str, Path(min_length=1, max_length=64, json_schema_extra=_DOC_TEXT), AfterValidator(no_control)]
TenantParam = Annotated[
    str | None,
    Query(max_length=64, description="admin only: this tenant's; a tenant token always sees its own", json_schema_extra=_DOC_TEXT),
    AfterValidator(lambda v: v if v is None else no_control(v)),
]
Cursor = Annotated[int, Query(ge=0, le=MAX_INT, description="cursor: the `next` of the previous page")]
PageSize = Annotated[int, Query(ge=1, le=1000)]
ByteOffset = Annotated[int, Query(ge=0, le=MAX_INT, description="byte offset into the log; past its end: an empty answer")]
