"""Table definitions. Alembic migrations in `migrations/versions` create exactly these tables."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("weight", Float, nullable=False, default=1.0),
    Column("created_s", Float, nullable=False),
    # a budget per UTC calendar period (0007): all three or none; cpnet.sched.budget checks it against the ledger
    Column("budget_amount", Float, nullable=True),
    Column("budget_unit", String(8), nullable=True),  # cu (CU x s) | usd
    Column("budget_period", String(8), nullable=True),  # day | week | month
    # the tenant tree (0008, cpnet.core.tenancy): a row is an org, a team or a tenant (only tenants submit jobs)
    Column("kind", String(8), nullable=False, server_default="tenant"),
    Column("parent", String(64), nullable=True),
    Column("quota_cu_s", Float, nullable=True),
    Column("family_quota_cu_s", JSON, nullable=True),  # vendor -> CU/s
    Column("borrowing_limit_cu_s", Float, nullable=True),
    Column("lending_limit_cu_s", Float, nullable=True),
)

tokens = Table(
    "tokens",
    metadata,
    Column("hash", String(64), primary_key=True),  # sha256 hex of the token; the token itself is never stored
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=True),  # NULL for admin tokens; with admin: that node's admin (0008)
    Column("admin", Boolean, nullable=False, default=False),
    Column("created_s", Float, nullable=False),
    Column("id", String(16), nullable=False),  # public id: the hash's first 16 hex digits (0003)
    Column("expires_s", Float, nullable=True),  # NULL: never expires (0003)
    Column("revoked_s", Float, nullable=True),  # set once, by a revocation (0003)
)
Index("ix_tokens_id", tokens.c.id, unique=True)
Index("ix_tokens_tenant", tokens.c.tenant_id)

sites = Table(
    "sites",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tier", String(16), nullable=False),
    Column("region", String(64), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("inventory", JSON, nullable=False),  # accelerator model -> device count
    Column("emulated", JSON, nullable=False),  # list of emulated accelerator models
    Column("pue", Float, nullable=False),
    Column("price_usd_per_kwh", Float, nullable=False),
    Column("carbon_g_per_kwh", Float, nullable=False),
    Column("power_cap_kw", Float, nullable=True),  # NULL: no cap (0004)
    Column("state", String(16), nullable=False),
    Column("source", String(16), nullable=False),  # scenario | api | executor
    Column("heartbeat_s", Float, nullable=True),
    Column("heartbeat_timeout_s", Float, nullable=True),  # NULL: never times out (scenario sites)
    Column("version", Integer, nullable=False, default=1),
)

jobs = Table(
    "jobs",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    Column("lost_count", Integer, nullable=False, default=0),
    Column("submitted_s", Float, nullable=False),
    Column("started_s", Float, nullable=True),  # start of the current attempt
    Column("finished_s", Float, nullable=True),
    Column("site", String(64), nullable=True),
    Column("accelerator", String(64), nullable=True),
    Column("num_devices", Integer, nullable=True),
    Column("handle", Text, nullable=True),  # executor handle of the current attempt
    Column("released", Boolean, nullable=False, default=True),  # False while an executor may run it
    Column("exit_code", Integer, nullable=True),
    Column("reason", Text, nullable=True),
    Column("attained_device_s", Float, nullable=False, default=0.0),  # over finished attempts
    Column("steps_done", Float, nullable=False, default=0.0),  # over finished attempts
    Column("avoid", JSON, nullable=True),  # site lost on -> until when the scheduler avoids it (0006)
    UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_idem"),
)
Index("ix_jobs_state", jobs.c.state)
Index("ix_jobs_tenant_seq", jobs.c.tenant_id, jobs.c.seq)

job_events = Table(
    "job_events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", String(32), nullable=False),
    Column("t_s", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=True),
    Column("message", Text, nullable=False, default=""),
)
Index("ix_job_events_job", job_events.c.job_id, job_events.c.seq)

attempts = Table(
    "attempts",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("site", String(64), nullable=False),
    Column("accelerator", String(64), nullable=False),
    Column("num_devices", Integer, nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=True),
    Column("energy_kwh", Float, nullable=True),  # from device counters when the executor reports them
    Column("device_s", Float, nullable=True),  # set when the attempt ends (0002)
    Column("device_s_source", String(8), nullable=True),  # engine (Ray timing, sacct) | cpnet (own clock)
)
Index("ix_attempts_tenant", attempts.c.tenant_id)

decisions = Table(
    "decisions",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("t_s", Float, nullable=False),
    Column("policy", String(64), nullable=False),
    Column("placements", JSON, nullable=False),
    Column("preemptions", JSON, nullable=False),
    Column("infeasible", JSON, nullable=False),
)

# A round policy's accounting between rounds (cpnet.sched.framework.durable_state), one row per
# policy and parameters, replaced after each decision that changes it (0005).
policy_states = Table(
    "policy_states",
    metadata,
    Column("policy", String(512), primary_key=True),
    Column("t_s", Float, nullable=False),
    Column("state", LargeBinary, nullable=False),
)

# The usage ledger (cpnet.control.store.ledger): append-only, hash-chained; one record per ended
# attempt, written in the transaction that ends it (0006). `ledger_head` is its one-row tip: the
# last seq and hash, locked by each append so that appends chain one after another.
ledger = Table(
    "ledger",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("t_s", Float, nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # attempt (a job's run); service hours later
    Column("ref", String(64), nullable=False),  # the job id
    Column("attempt", Integer, nullable=False),
    Column("site", String(64), nullable=False),
    Column("accelerator", String(64), nullable=False),
    Column("num_devices", Integer, nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("device_s", Float, nullable=False),
    Column("cu", Float, nullable=True),  # None: the model has no CU rate
    Column("energy_kwh", Float, nullable=False),  # facility energy, PUE included
    Column("energy_source", String(16), nullable=False),  # engine (device counters) | estimated (TDP)
    Column("kg_co2", Float, nullable=False),
    Column("tariff", String(64), nullable=False),  # the tariff version applied
    Column("compute_usd", Float, nullable=False),
    Column("energy_usd", Float, nullable=False),
    Column("carbon_usd", Float, nullable=False),
    Column("amount_usd", Float, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("kind", "ref", "attempt", name="uq_ledger_once"),  # a run is billed once
)
Index("ix_ledger_tenant_t", ledger.c.tenant_id, ledger.c.t_s)

ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("billed_after_s", Float, nullable=True),  # attempts that ended by then predate the ledger (None: none did)
)
