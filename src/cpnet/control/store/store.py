"""The Store: every durable read and write of the control plane.

Contracts:
- A write that the API acknowledges is committed before the method returns.
- Job and site state changes go through `cpnet.core.states`; a transition that the table does not
  allow raises InvalidTransition and writes nothing.
- Job rows carry a `version`; the reconciler's updates name the version they read, so a concurrent
  change (a cancel from the API) makes the update a no-op instead of overwriting it.
- Every write of a job row adds a `job_events` row in the same transaction, and event sequence
  numbers are assigned in commit order (SQLite has one writer; on PostgreSQL job-writing
  transactions take one advisory lock first). The events table is therefore a change feed:
  `job_changes(after)` reads only the jobs named by events newer than `after`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, create_engine, delete, event, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import QueuePool

from cpnet.control.store import ledger
from cpnet.control.store import schema as t
from cpnet.control.store.ledger import UsageRecord
from cpnet.core.errors import CpnetError
from cpnet.core.model import Site, Tier
from cpnet.core.states import JobState, SiteState, check_site_transition, check_transition
from cpnet.core.tenancy import Budget, BudgetPeriod, BudgetUnit, NodeKind, TenantNode, TenantTree

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a token belongs to: one tenant, or the admin (tenant None); `token_id` names the token."""

    tenant_id: str | None
    admin: bool
    token_id: str | None = None
    scope: str | None = None  # the org or team whose subtree this admin manages (then admin is False, tenant_id None)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as stored (never the token itself). `id` is public: the first 16 hex digits of its hash."""

    id: str
    tenant_id: str | None
    admin: bool
    created_s: float
    expires_s: float | None
    revoked_s: float | None

    def state(self, now_s: float) -> str:
        if self.revoked_s is not None:
            return "revoked"
        if self.expires_s is not None and self.expires_s <= now_s:
            return "expired"
        return "active"

    def principal(self) -> Principal:
        """Who the token speaks for: a tenant, the admin, or an org's or a team's admin (its subtree only)."""
        if self.admin and self.tenant_id is not None:
            return Principal(None, False, self.id, scope=self.tenant_id)
        return Principal(self.tenant_id, self.admin, self.id)


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """How an attempt ended: when, what it used (device-seconds: engine | cpnet), and its bill."""

    attempt: int
    end_s: float
    energy_kwh: float | None = None
    device_s: float | None = None
    device_s_source: str | None = None
    bill: UsageRecord | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    seq: int
    id: str
    tenant_id: str
    idempotency_key: str
    spec: Mapping[str, Any]
    state: JobState
    version: int
    attempt: int
    lost_count: int
    submitted_s: float
    started_s: float | None
    finished_s: float | None
    site: str | None
    accelerator: str | None
    num_devices: int | None
    handle: str | None
    released: bool
    exit_code: int | None
    reason: str | None
    attained_device_s: float
    steps_done: float
    avoid: Mapping[str, float] | None = None  # site it was lost on -> until when it is avoided


@dataclass(frozen=True, slots=True)
class SiteRecord:
    site: Site
    state: SiteState
    source: str
    heartbeat_s: float | None
    heartbeat_timeout_s: float | None
    version: int


_LIVE_STATES = (JobState.PENDING.value, JobState.SCHEDULED.value, JobState.RUNNING.value)
_FEED_LOCK_KEY = 0x63706E6574  # PostgreSQL advisory lock serializing job writes ("cpnet")


SHORT_ID_HEX = 6  # the fewest hex digits of a job id shown as its short form
_JOB_ID = re.compile(r"^j-[0-9a-f]+$")


def _short_id(job_id: str, neighbours: Iterable[str | None]) -> str:
    """`job_id`'s hex digits, cut to the shortest prefix (at least SHORT_ID_HEX) that no neighbour shares."""
    if not _JOB_ID.match(job_id):
        return job_id
    n = SHORT_ID_HEX
    for other in neighbours:
        if other is not None:
            common = next((i for i, (a, b) in enumerate(zip(job_id, other, strict=False)) if a != b), min(len(job_id), len(other)))
            n = max(n, common - 1)  # the common prefix's hex digits, plus one
    return job_id[2 : 2 + n]


class StoreError(CpnetError):
    """A store operation that cannot be done as asked (not found, conflict)."""


class BatchKeyConflict(StoreError):
    """A batch's idempotency key was used before, for another batch (or a single job)."""

    def __init__(self, key: str, other_batch: str | None) -> None:
        what = f"batch {other_batch}" if other_batch else "a job submitted on its own"
        super().__init__(f"idempotency key '{key}' was used before, for {what} with another body; resend that body to get its jobs, or use a new key")
        self.other_batch = other_batch


class BatchOverLimit(StoreError):
    """A batch would take its tenant past its pending+scheduled+running limit (nothing was stored)."""

    def __init__(self, tenant_id: str, live: int, adding: int, limit: int) -> None:
        super().__init__(f"tenant '{tenant_id}' has {live} of its {limit} pending, scheduled or running jobs; {adding} more would exceed it")
        self.tenant_id, self.live, self.adding, self.limit = tenant_id, live, adding, limit


_KEY_CHUNK = 500  # keys per `IN (...)` when looking a batch up
_BATCH_ROWS = 190  # rows per INSERT of a batch: 5 parameters each stay under SQLite's oldest limit of 999 per statement


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TOKEN_ID_LEN = 16


def token_id(token: str) -> str:
    """A token's public id (what `revoke-token` and the API take): its hash's first 16 hex digits."""
    return hash_token(token)[:TOKEN_ID_LEN]


def _token_row(token: str, tenant_id: str | None, now_s: float, expires_s: float | None, admin: bool | None = None) -> dict[str, Any]:
    """`admin` None: an admin token exactly when it has no tenant; True with a tenant: that node's admin."""
    h = hash_token(token)
    return dict(hash=h, id=h[:TOKEN_ID_LEN], tenant_id=tenant_id, admin=tenant_id is None if admin is None else admin, created_s=now_s, expires_s=expires_s)


def _token_record(row: Any) -> TokenRecord:
    return TokenRecord(row.id, row.tenant_id, bool(row.admin), row.created_s, row.expires_s, row.revoked_s)


def _node_row(n: TenantNode) -> dict[str, Any]:
    b = n.budget
    return dict(
        id=n.id,
        kind=n.kind.value,
        parent=n.parent,
        weight=n.weight,
        quota_cu_s=n.quota_cu_s,
        family_quota_cu_s=dict(n.family_quota_cu_s) or None,
        borrowing_limit_cu_s=n.borrowing_limit_cu_s,
        lending_limit_cu_s=n.lending_limit_cu_s,
        budget_amount=None if b is None else b.amount,
        budget_unit=None if b is None else b.unit.value,
        budget_period=None if b is None else b.period.value,
    )


def _tree(c: Any) -> TenantTree:
    rows = c.execute(select(t.tenants).order_by(t.tenants.c.created_s, t.tenants.c.id)).all()
    nodes = []
    for r in rows:
        budget = None if r.budget_amount is None else Budget(float(r.budget_amount), BudgetUnit(r.budget_unit), BudgetPeriod(r.budget_period))
        nodes.append(
            TenantNode(
                r.id,
                NodeKind(r.kind),
                r.parent,
                float(r.weight),
                r.quota_cu_s,
                dict(r.family_quota_cu_s or {}),
                r.borrowing_limit_cu_s,
                r.lending_limit_cu_s,
                budget,
            )
        )
    # parents before children: rows come in creation order, and a node is created after its parent
    return TenantTree(tuple(nodes), allow_empty=True)


def default_sqlite_url(data_dir: str | Path) -> str:
    path = Path(data_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'cpnet.db'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer. synchronous=FULL fsyncs the WAL at every commit,
    # so an acknowledged job survives a power loss or OS crash, not only a kill -9 (NORMAL would
    # survive kill -9 but could lose the last commits on power loss). Group commit of submissions
    # (api/batcher.py) pays one fsync per batch, not per job.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _job(row: Any) -> JobRecord:
    m = row._mapping
    return JobRecord(
        seq=m["seq"],
        id=m["id"],
        tenant_id=m["tenant_id"],
        idempotency_key=m["idempotency_key"],
        spec=m["spec"],
        state=JobState(m["state"]),
        version=m["version"],
        attempt=m["attempt"],
        lost_count=m["lost_count"],
        submitted_s=m["submitted_s"],
        started_s=m["started_s"],
        finished_s=m["finished_s"],
        site=m["site"],
        accelerator=m["accelerator"],
        num_devices=m["num_devices"],
        handle=m["handle"],
        released=bool(m["released"]),
        exit_code=m["exit_code"],
        reason=m["reason"],
        attained_device_s=m["attained_device_s"],
        steps_done=m["steps_done"],
        avoid=m["avoid"],
    )


def _pending_row(job_id: str, tenant_id: str, idempotency_key: str, spec: Mapping[str, Any], now_s: float) -> dict[str, Any]:
    """The jobs-table row of a new submission: pending, version 1, never attempted."""
    return dict(
        id=job_id,
        tenant_id=tenant_id,
        idempotency_key=idempotency_key,
        spec=dict(spec),
        state=JobState.PENDING.value,
        version=1,
        attempt=0,
        lost_count=0,
        submitted_s=now_s,
        released=True,
        attained_device_s=0.0,
        steps_done=0.0,
    )


def _site(row: Any) -> SiteRecord:
    m = row._mapping
    site = Site(
        id=m["id"],
        tier=Tier(m["tier"]),
        region=m["region"],
        lat=m["lat"],
        lon=m["lon"],
        inventory=dict(m["inventory"]),
        pue=m["pue"],
        price_usd_per_kwh=m["price_usd_per_kwh"],
        carbon_g_per_kwh=m["carbon_g_per_kwh"],
        emulated=frozenset(m["emulated"]),
        power_cap_kw=m["power_cap_kw"],
    )
    return SiteRecord(site, SiteState(m["state"]), m["source"], m["heartbeat_s"], m["heartbeat_timeout_s"], m["version"])


class Store:
    """Open with a SQLAlchemy URL (`sqlite:///path.db` or `postgresql+psycopg://...`)."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self.engine: Engine = create_engine(
                url,
                poolclass=QueuePool,
                pool_size=pool_size,
                max_overflow=pool_size,
                connect_args={"check_same_thread": False, "timeout": 10},
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)

    # -- schema -----------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply the Alembic migrations up to head (idempotent; run at every start)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self.engine.dispose()

    # -- tenants and tokens -----------------------------------------------------------------------
    def create_tenant(self, tenant_id: str, weight: float, now_s: float) -> str:
        """Create a tenant of its own (a root of the tree) and return its first token (shown once; only the hash is stored)."""
        token = self.create_node(TenantNode(tenant_id, weight=weight), now_s)
        assert token is not None  # a tenant's node comes with a token
        return token

    def create_token(self, tenant_id: str | None, now_s: float, ttl_s: float | None = None) -> str:
        """A new token for an existing tenant, or an admin token when tenant_id is None."""
        return self.issue_token(tenant_id, now_s, ttl_s)[0]

    def issue_token(self, tenant_id: str | None, now_s: float, ttl_s: float | None = None, *, node_admin: bool = False) -> tuple[str, TokenRecord]:
        """`create_token`, also returning the stored record; expires `ttl_s` after `now_s` if given.
        `node_admin`: a token of the admin of node `tenant_id` (an org or team: its subtree; Principal.scope)."""
        if ttl_s is not None and not (0 < ttl_s < float("inf")):
            raise StoreError(f"ttl_s must be a positive number of seconds, not {ttl_s}")
        admin = tenant_id is None or node_admin
        token = ("cpa_" if admin else "cpt_") + secrets.token_urlsafe(24)
        row = _token_row(token, tenant_id, now_s, None if ttl_s is None else now_s + ttl_s, admin)
        with self.engine.begin() as c:
            if tenant_id is not None:
                kind = c.execute(select(t.tenants.c.kind).where(t.tenants.c.id == tenant_id)).scalar_one_or_none()
                if kind is None:
                    raise StoreError(f"no tenant '{tenant_id}'")
                if node_admin == (kind == NodeKind.TENANT.value):
                    raise StoreError(
                        f"'{tenant_id}' is a {kind}: "
                        + ("an admin token is an org's or a team's" if node_admin else "tokens of an org or a team are admin tokens")
                    )
            c.execute(insert(t.tokens).values(**row))
        return token, TokenRecord(row["id"], tenant_id, admin, now_s, row["expires_s"], None)

    def token_record(self, token: str) -> TokenRecord | None:
        """The stored record of a token (whatever its state), None for an unknown token."""
        with self.engine.connect() as c:
            row = c.execute(select(t.tokens).where(t.tokens.c.hash == hash_token(token))).first()
        return None if row is None else _token_record(row)

    def principal(self, token: str, now_s: float | None = None) -> Principal | None:
        """Who the token belongs to; None when it is unknown, revoked or expired (at `now_s`, default now)."""
        rec = self.token_record(token)
        if rec is None or rec.state(time.time() if now_s is None else now_s) != "active":
            return None
        return rec.principal()

    def get_token(self, token_id: str) -> TokenRecord | None:
        with self.engine.connect() as c:
            row = c.execute(select(t.tokens).where(t.tokens.c.id == token_id)).first()
        return None if row is None else _token_record(row)

    def list_tokens(self, tenant_id: str | None = None, admin_only: bool = False) -> list[TokenRecord]:
        """Tokens, oldest first: a tenant's (`tenant_id`), the admin tokens (`admin_only`), or all."""
        q = select(t.tokens)
        if tenant_id is not None:
            q = q.where(t.tokens.c.tenant_id == tenant_id)
        elif admin_only:
            q = q.where(t.tokens.c.admin == True)  # noqa: E712
        with self.engine.connect() as c:
            return [_token_record(r) for r in c.execute(q.order_by(t.tokens.c.created_s, t.tokens.c.id))]

    def revoke_token(self, token_id: str, now_s: float) -> TokenRecord:
        """Revoke a token by id (a revoked token keeps its first revocation time); StoreError if none."""
        with self.engine.begin() as c:
            c.execute(update(t.tokens).where(and_(t.tokens.c.id == token_id, t.tokens.c.revoked_s.is_(None))).values(revoked_s=now_s))
            row = c.execute(select(t.tokens).where(t.tokens.c.id == token_id)).first()
        if row is None:
            raise StoreError(f"no token '{token_id}'")
        return _token_record(row)

    def tenants(self) -> dict[str, float]:
        """The tenants (the tree's leaves, who submit jobs) and their weights."""
        tn = t.tenants.c
        with self.engine.connect() as c:
            return {r.id: r.weight for r in c.execute(select(tn.id, tn.weight).where(tn.kind == NodeKind.TENANT.value))}

    def tenant_tree(self) -> TenantTree:
        """Every org, team and tenant as a tree (orgs and teams without members allowed)."""
        with self.engine.connect() as c:
            return _tree(c)

    def create_node(self, node: TenantNode, now_s: float) -> str | None:
        """Add an org, team or tenant to the tree (TenantTreeError when it breaks a rule); a tenant's
        first token is returned (shown once), None for an org or a team."""
        token = "cpt_" + secrets.token_urlsafe(24) if node.kind is NodeKind.TENANT else None
        try:
            with self.engine.begin() as c:
                tree = _tree(c)
                if node.id in tree:
                    raise StoreError(f"tenant '{node.id}' already exists")
                tree.with_nodes([node])
                c.execute(insert(t.tenants).values(**_node_row(node), created_s=now_s))
                if token is not None:
                    c.execute(insert(t.tokens).values(**_token_row(token, node.id, now_s, None)))
        except IntegrityError as exc:
            raise StoreError(f"tenant '{node.id}' already exists") from exc
        return token

    def update_node(self, node: TenantNode) -> None:
        """Replace a node's weight, quotas, limits and budget (its kind and parent stay); TenantTreeError when the tree breaks a rule."""
        with self.engine.begin() as c:
            tree = _tree(c)
            old = tree.node(node.id)
            node = replace(node, kind=old.kind, parent=old.parent)
            tree.with_nodes([node])
            c.execute(update(t.tenants).where(t.tenants.c.id == node.id).values(**_node_row(node)))

    def delete_node(self, node_id: str) -> None:
        """Remove a node without members and, for a tenant, without jobs (a tenant's jobs keep their records); its tokens go with it."""
        with self.engine.begin() as c:
            tree = _tree(c)
            tree.node(node_id)
            if tree.children(node_id):
                raise StoreError(f"'{node_id}' has members ({', '.join(tree.children(node_id))}); remove them first")
            if c.execute(select(t.jobs.c.id).where(t.jobs.c.tenant_id == node_id).limit(1)).first() is not None:
                raise StoreError(f"tenant '{node_id}' has jobs; a tenant with jobs is kept for their records (revoke its tokens instead)")
            c.execute(delete(t.tokens).where(t.tokens.c.tenant_id == node_id))
            c.execute(delete(t.tenants).where(t.tenants.c.id == node_id))

    def set_budget(self, tenant_id: str, budget: Budget | None) -> None:
        """Set (or with None, remove) a node's budget (`update_node`); StoreError for an unknown one."""
        tree = self.tenant_tree()
        if tenant_id not in tree:
            raise StoreError(f"no tenant '{tenant_id}'")
        self.update_node(replace(tree.node(tenant_id), budget=budget))

    def budgets(self) -> dict[str, Budget]:
        """The nodes that have a budget, with it."""
        return {n.id: n.budget for n in self.tenant_tree() if n.budget is not None}

    def tenant_summaries(self, now_s: float) -> list[dict[str, Any]]:
        """Every tenant by name: `name`, `weight`, `created_s`, and `live_tokens` (neither revoked nor expired at `now_s`)."""
        live = and_(
            t.tokens.c.tenant_id == t.tenants.c.id,
            t.tokens.c.revoked_s.is_(None),
            (t.tokens.c.expires_s.is_(None)) | (t.tokens.c.expires_s > now_s),
        )
        q = (
            select(t.tenants.c.id, t.tenants.c.weight, t.tenants.c.created_s, func.count(t.tokens.c.hash).label("live"))
            .select_from(t.tenants.outerjoin(t.tokens, live))
            .group_by(t.tenants.c.id, t.tenants.c.weight, t.tenants.c.created_s)
            .order_by(t.tenants.c.id)
        )
        with self.engine.connect() as c:
            return [{"name": r.id, "weight": r.weight, "created_s": r.created_s, "live_tokens": int(r.live)} for r in c.execute(q)]

    def rotate_token(self, token_id: str, now_s: float) -> tuple[str, TokenRecord, TokenRecord]:
        """Revoke a token and issue its replacement in one transaction: same owner, and the same lifetime
        (a token that expired T seconds after its creation is replaced by one that expires T seconds from
        `now_s`; one that never expires, by one that never expires). An expired token can be rotated; a
        revoked one cannot (so two concurrent rotations make one replacement, not two).
        Returns (new token, new record, the revoked old record); StoreError for an unknown or revoked id."""
        with self.engine.begin() as c:
            revoked = c.execute(update(t.tokens).where(and_(t.tokens.c.id == token_id, t.tokens.c.revoked_s.is_(None))).values(revoked_s=now_s))
            row = c.execute(select(t.tokens).where(t.tokens.c.id == token_id)).first()
            if row is None:
                raise StoreError(f"no token '{token_id}'")
            old = _token_record(row)
            if revoked.rowcount != 1:
                owner = "--admin" if old.tenant_id is None else old.tenant_id
                raise StoreError(f"token {token_id} is already revoked; `cpnet admin create-token {owner}` makes a new one")
            ttl_s = None if old.expires_s is None else max(old.expires_s - old.created_s, 1.0)
            token = ("cpa_" if old.admin else "cpt_") + secrets.token_urlsafe(24)
            new = _token_row(token, old.tenant_id, now_s, None if ttl_s is None else now_s + ttl_s, old.admin)
            c.execute(insert(t.tokens).values(**new))
        return token, TokenRecord(new["id"], old.tenant_id, old.admin, now_s, new["expires_s"], None), old

    # -- jobs: API side ---------------------------------------------------------------------------
    def submit_job(self, tenant_id: str, idempotency_key: str, spec: Mapping[str, Any], now_s: float, job_id: str | None = None) -> tuple[JobRecord, bool]:
        """Insert a pending job; a repeated (tenant, key) returns the existing job and False.

        `job_id` is for replays (the parity test) that must reuse a trace's ids; the API never sets it.
        """
        job_id = job_id or "j-" + uuid.uuid4().hex[:16]
        try:
            with self.engine.begin() as c:
                self._feed_lock(c)
                c.execute(insert(t.jobs).values(**_pending_row(job_id, tenant_id, idempotency_key, spec, now_s)))
                c.execute(insert(t.job_events).values(job_id=job_id, t_s=now_s, kind="submitted", to_state="pending", message=""))
        except IntegrityError:
            with self.engine.connect() as c:
                row = c.execute(select(t.jobs).where(and_(t.jobs.c.tenant_id == tenant_id, t.jobs.c.idempotency_key == idempotency_key))).first()
            if row is None:
                raise
            return _job(row), False
        job = self.get_job(job_id)
        assert job is not None
        return job, True

    def submit_jobs(
        self,
        items: Sequence[tuple[str, str, Mapping[str, Any], float]],
        max_live: Mapping[str, int] | None = None,
        live: dict[str, int] | None = None,
    ) -> list[tuple[JobRecord, bool] | None]:
        """Many (tenant, idempotency key, spec, now_s) submissions in ONE transaction (group
        commit); same contract as `submit_job` for each. Used by the API's submission batcher.

        `max_live` (tenant -> n): those tenants have at most n pending+scheduled+running jobs when
        the transaction commits. They are counted inside it, after the insert, so the count is exact
        under concurrent writers (SQLite has one writer; on PostgreSQL job writes hold one lock); the
        batch's newest jobs past the limit are not kept and their entries are None. `live`, if
        given, receives those tenants' counts."""
        ids = ["j-" + uuid.uuid4().hex[:16] for _ in items]
        rows = [_pending_row(i, tenant, key, spec, now) for i, (tenant, key, spec, now) in zip(ids, items, strict=True)]
        with self.engine.begin() as c:
            self._feed_lock(c)
            # One multi-row INSERT; RETURNING names the rows that were new (a used key is skipped).
            made = {r.id: r.seq for r in c.execute(self._insert_ignore(t.jobs).returning(t.jobs.c.id, t.jobs.c.seq), rows)}
            if max_live:
                for job_id in self._keep_live_limit(c, rows, made, max_live, live):
                    del made[job_id]
            events = [
                dict(job_id=r["id"], t_s=r["submitted_s"], kind="submitted", to_state="pending", message="", from_state=None) for r in rows if r["id"] in made
            ]
            if events:
                c.execute(insert(t.job_events), events)
            out: list[tuple[JobRecord, bool] | None] = []
            for r in rows:
                if r["id"] in made:
                    out.append(
                        (
                            JobRecord(
                                made[r["id"]],
                                r["id"],
                                r["tenant_id"],
                                r["idempotency_key"],
                                r["spec"],
                                JobState.PENDING,
                                1,
                                0,
                                0,
                                r["submitted_s"],
                                None,
                                None,
                                None,
                                None,
                                None,
                                None,
                                True,
                                None,
                                None,
                                0.0,
                                0.0,
                            ),
                            True,
                        )
                    )
                else:  # the key was used before (or earlier in this batch): answer with that job
                    q = select(t.jobs).where(and_(t.jobs.c.tenant_id == r["tenant_id"], t.jobs.c.idempotency_key == r["idempotency_key"]))
                    row = c.execute(q).first()
                    if row is None:  # not kept: over the tenant's limit (so was its twin earlier in the batch)
                        if not (max_live and r["tenant_id"] in max_live):
                            raise StoreError(f"job with key '{r['idempotency_key']}' vanished during its submission")
                        out.append(None)
                    else:
                        out.append((_job(row), False))
        return out

    def submit_batch(self, tenant_id: str, batch_id: str, keys: Sequence[str], specs: Sequence[str], now_s: float, max_live: int = 0) -> tuple[list[str], bool]:
        """A batch of jobs (POST /v1/jobs:batch) in ONE transaction: all of them, or none. Returns
        their ids (in the order of `keys`) and True; for a batch stored before (its first key is
        used, by a job of the same `batch_id`) its jobs' ids and False, storing nothing.

        `keys` are the jobs' own idempotency keys and `specs` their specs as JSON object texts (the
        jobs.spec column's content; the API writes them without a json.dumps per job). `batch_id`
        names the batch's content (the API derives it from the tenant, the batch key and the body),
        so a key used with another body raises BatchKeyConflict. `max_live` > 0: the tenant has at
        most that many pending + scheduled + running jobs when the transaction commits (counted
        inside it, after the insert, as `submit_jobs` counts); else BatchOverLimit, nothing stored.

        The rows go to the driver as multi-row INSERTs of plain values (`_batch_insert`):
        SQLAlchemy's per-row parameter processing would cost more than SQLite's insert itself."""
        if (earlier := self._batch_ids(tenant_id, batch_id, keys, first_only=True)) is not None:
            return earlier, False
        n = len(keys)
        hexes = os.urandom(8 * n).hex()
        # Sorted: the id indexes (jobs.id, job_events.job_id) are then filled in order, not at random.
        ids = sorted("j-" + hexes[k : k + 16] for k in range(0, 16 * n, 16))
        try:
            with self.engine.begin() as c:
                self._feed_lock(c)
                self._insert_batch(c, tenant_id, ids, keys, specs, now_s)  # a used key fails the whole batch (IntegrityError)
                # No table holds more rows than its largest seq: at most max_live of them, no count is needed.
                if max_live > 0 and int(c.execute(select(func.max(t.jobs.c.seq))).scalar_one()) > max_live:
                    q = select(func.count()).select_from(t.jobs).where(and_(t.jobs.c.tenant_id == tenant_id, t.jobs.c.state.in_(_LIVE_STATES)))
                    live = int(c.execute(q).scalar_one())
                    if live > max_live:
                        raise BatchOverLimit(tenant_id, live - n, n, max_live)
                self._insert_batch(c, None, ids, (), (), now_s)
        except IntegrityError:
            # A key is taken: by this very batch (a concurrent retry committed first), or by another.
            if (earlier := self._batch_ids(tenant_id, batch_id, keys, first_only=False)) is None:
                raise
            return earlier, False
        return ids, True

    def _insert_batch(self, c: Any, tenant_id: str | None, ids: Sequence[str], keys: Sequence[str], specs: Sequence[str], now_s: float) -> None:
        """`submit_batch`'s inserts: the jobs (`tenant_id` given: pending, as `_pending_row` makes
        them), else their "submitted" events. Plain values straight to the driver: SQLite gets
        multi-row INSERTs of _BATCH_ROWS rows (about 40% less of its time than an executemany of
        single rows), PostgreSQL one INSERT ... SELECT FROM unnest(arrays) (a statement of many
        thousand parameters would be parsed again by psycopg at each execution)."""
        pending = JobState.PENDING.value
        if tenant_id is not None:
            cols = "id, tenant_id, idempotency_key, spec, submitted_s, state, version, attempt, lost_count, released, attained_device_s, steps_done"
            rest = f"'{pending}', 1, 0, 0, TRUE, 0.0, 0.0"
            if not self.sqlite:
                select_ = (
                    f"SELECT u.id, %s, u.key, u.spec::json, %s, {rest} FROM unnest(%b::text[], %b::text[], %b::text[]) WITH ORDINALITY AS u(id, key, spec, n)"
                )
                c.exec_driver_sql(f"INSERT INTO {t.jobs.name} ({cols}) {select_} ORDER BY u.n", (tenant_id, now_s, list(ids), list(keys), list(specs)))
                return
            one = f"(?, ?, ?, ?, ?, {rest})"
            for k in range(0, len(ids), _BATCH_ROWS):
                m = min(_BATCH_ROWS, len(ids) - k)
                params: list[Any] = []
                for job_id, key, spec in zip(ids[k : k + m], keys[k : k + m], specs[k : k + m], strict=True):
                    params += (job_id, tenant_id, key, spec, now_s)
                c.exec_driver_sql(f"INSERT INTO {t.jobs.name} ({cols}) VALUES {', '.join([one] * m)}", tuple(params))
            return
        cols = "job_id, t_s, kind, to_state, message"
        if not self.sqlite:
            select_ = f"SELECT u.id, %s, 'submitted', '{pending}', '' FROM unnest(%b::text[]) WITH ORDINALITY AS u(id, n) ORDER BY u.n"
            c.exec_driver_sql(f"INSERT INTO {t.job_events.name} ({cols}) {select_}", (now_s, list(ids)))
            return
        one = f"(?, ?, 'submitted', '{pending}', '')"
        for k in range(0, len(ids), _BATCH_ROWS):
            m = min(_BATCH_ROWS, len(ids) - k)
            c.exec_driver_sql(
                f"INSERT INTO {t.job_events.name} ({cols}) VALUES {', '.join([one] * m)}", tuple(v for job_id in ids[k : k + m] for v in (job_id, now_s))
            )

    def _batch_ids(self, tenant_id: str, batch_id: str, keys: Sequence[str], first_only: bool) -> list[str] | None:
        """None when none of `keys` is used (`first_only`: when the first is not); else the ids of
        batch `batch_id`'s jobs for `keys`, or BatchKeyConflict when a used key belongs to another
        batch or to a job submitted on its own."""
        jc = t.jobs.c

        def used(c: Any, some: Sequence[str]) -> dict[str, str]:
            out: dict[str, str] = {}
            for n in range(0, len(some), _KEY_CHUNK):
                q = select(jc.idempotency_key, jc.id).where(and_(jc.tenant_id == tenant_id, jc.idempotency_key.in_(some[n : n + _KEY_CHUNK])))
                out.update((k, i) for k, i in c.execute(q))
            return out

        with self.engine.connect() as c:
            found = used(c, keys[:1] if first_only else keys)
            if not found:
                return None
            key = next(k for k in keys if k in found)
            spec = c.execute(select(jc.spec).where(jc.id == found[key])).scalar_one()
            if spec.get("batch_id") != batch_id:
                raise BatchKeyConflict(key.rpartition("#")[0], spec.get("batch_id"))
            if first_only:
                found = used(c, keys)
        missing = [k for k in keys if k not in found]
        if missing:
            raise StoreError(f"batch {batch_id} is stored without {len(missing)} of its jobs (keys {', '.join(missing[:3])}, ...)")
        return [found[k] for k in keys]

    def _keep_live_limit(
        self, c: Any, rows: Sequence[Mapping[str, Any]], made: Mapping[str, int], max_live: Mapping[str, int], live: dict[str, int] | None
    ) -> list[str]:
        """Inside `submit_jobs`' transaction: delete the batch's newest jobs of each tenant past its
        limit; returns their ids."""
        q = (
            select(t.jobs.c.tenant_id, func.count())
            .where(and_(t.jobs.c.tenant_id.in_(list(max_live)), t.jobs.c.state.in_(_LIVE_STATES)))
            .group_by(t.jobs.c.tenant_id)
        )
        counts = dict.fromkeys(max_live, 0) | {tenant: int(n) for tenant, n in c.execute(q)}
        drop: list[str] = []
        for tenant, limit in max_live.items():
            excess = counts[tenant] - limit
            if excess > 0:
                new = sorted((made[r["id"]], r["id"]) for r in rows if r["tenant_id"] == tenant and r["id"] in made)
                gone = [job_id for _, job_id in new[-excess:]]
                drop += gone
                counts[tenant] -= len(gone)
        if drop:
            c.execute(delete(t.jobs).where(t.jobs.c.id.in_(drop)))
        if live is not None:
            live.update(counts)
        return drop

    def _feed_lock(self, c: Any) -> None:
        """Call first in every transaction that writes a job row or event. On PostgreSQL this makes
        event sequence numbers commit-ordered (sequences alone are not), so the change feed cannot
        skip a late-committing transaction; SQLite's single writer already guarantees it."""
        if not self.sqlite:
            c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FEED_LOCK_KEY})

    def _insert_ignore(self, table: Any) -> Any:
        if self.sqlite:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
        return dialect_insert(table).on_conflict_do_nothing()

    def get_job(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as c:
            row = c.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def list_jobs(self, tenant_id: str | None = None, states: Iterable[str] = (), after_seq: int = 0, limit: int = 100) -> list[JobRecord]:
        q = select(t.jobs).where(t.jobs.c.seq > after_seq)
        if tenant_id is not None:
            q = q.where(t.jobs.c.tenant_id == tenant_id)
        states = list(states)
        if states:
            q = q.where(t.jobs.c.state.in_(states))
        with self.engine.connect() as c:
            return [_job(r) for r in c.execute(q.order_by(t.jobs.c.seq).limit(limit))]

    def list_job_summaries(self, tenant_id: str | None = None, states: Iterable[str] = (), after_seq: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """`list_jobs` without the specs (a spec may be over 1 MB): each job's other columns, as a dict,
        and the spec's `name` (read from the JSON in the database: only the name leaves it; None when absent)."""
        name = t.jobs.c.spec["name"].label("name")
        q = select(*(c for c in t.jobs.c if c.name != "spec"), name).where(t.jobs.c.seq > after_seq)
        if tenant_id is not None:
            q = q.where(t.jobs.c.tenant_id == tenant_id)
        states = list(states)
        if states:
            q = q.where(t.jobs.c.state.in_(states))
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(q.order_by(t.jobs.c.seq).limit(limit))]
        for r in rows:
            r["name"] = r["name"] if isinstance(r["name"], str) else None
        return rows

    def queue_positions(self, jobs: Sequence[tuple[str, str, int]]) -> dict[str, tuple[int, int]]:
        """For pending jobs given as (id, tenant, seq): (place in the network's queue, place in its
        tenant's queue), 1 for the first, counting pending jobs in submission order. The pending jobs
        before the first asked about are counted, not read; only those in the asked span are read."""
        if not jobs:
            return {}
        from bisect import bisect_left

        c_ = t.jobs.c
        first, last = min(seq for _, _, seq in jobs), max(seq for _, _, seq in jobs)
        pending = c_.state == JobState.PENDING.value
        tenants = sorted({tenant for _, tenant, _ in jobs})
        with self.engine.connect() as c:
            before = int(c.execute(select(func.count()).select_from(t.jobs).where(pending, c_.seq < first)).scalar_one())
            tenant_before: dict[str, int] = dict(
                c.execute(select(c_.tenant_id, func.count()).where(pending, c_.seq < first, c_.tenant_id.in_(tenants)).group_by(c_.tenant_id)).all()
            )
            span: list[int] = []
            by_tenant: dict[str, list[int]] = {}
            for tenant, seq in c.execute(select(c_.tenant_id, c_.seq).where(pending, c_.seq >= first, c_.seq <= last).order_by(c_.seq)):
                span.append(int(seq))
                by_tenant.setdefault(tenant, []).append(int(seq))
        return {
            job_id: (before + bisect_left(span, seq) + 1, int(tenant_before.get(tenant, 0)) + bisect_left(by_tenant.get(tenant, []), seq) + 1)
            for job_id, tenant, seq in jobs
        }

    def job_ids_with_prefix(self, prefix: str, tenant_id: str | None = None, limit: int = 10) -> list[str]:
        """Ids of jobs (of `tenant_id`, or every tenant's) that start with `prefix`, in id order, at most
        `limit`. `prefix` is "j-" and lowercase hex digits, as job ids are (`submit_job`): the range
        below holds every id with that prefix (the unique index on id answers it), the LIKE keeps exactly them."""
        c_ = t.jobs.c
        q = select(c_.id).where(c_.id >= prefix, c_.id < prefix + "g", c_.id.like(prefix + "%"))
        if tenant_id is not None:
            q = q.where(c_.tenant_id == tenant_id)
        with self.engine.connect() as c:
            return [r.id for r in c.execute(q.order_by(c_.id).limit(limit))]

    def short_job_ids(self, ids: Sequence[str], tenant_id: str | None = None) -> dict[str, str]:
        """Each id's shortest unique prefix among the jobs of `tenant_id` (or every tenant's): its hex
        digits without "j-", at least SHORT_ID_HEX of them; an id not of the form j-<hex> stays whole.
        Unique when asked (a later job may share it): it differs from the ids just before and after
        it in id order, which two index lookups per id find, in one statement."""
        if not ids:
            return {}
        j, o = t.jobs.alias("j"), t.jobs.alias("o")
        scope = [o.c.tenant_id == tenant_id] if tenant_id is not None else []
        before = select(o.c.id).where(o.c.id < j.c.id, *scope).order_by(o.c.id.desc()).limit(1).scalar_subquery()
        after = select(o.c.id).where(o.c.id > j.c.id, *scope).order_by(o.c.id).limit(1).scalar_subquery()
        with self.engine.connect() as c:
            rows = list(c.execute(select(j.c.id, before.label("before"), after.label("after")).where(j.c.id.in_(list(ids)))))
        return {r.id: _short_id(r.id, (r.before, r.after)) for r in rows}

    def devices_in_use(self) -> dict[tuple[str, str], int]:
        """(site, accelerator) -> devices held by scheduled and running jobs, summed in the database."""
        c_ = t.jobs.c
        q = (
            select(c_.site, c_.accelerator, func.sum(c_.num_devices))
            .where(c_.state.in_([JobState.SCHEDULED.value, JobState.RUNNING.value]), c_.site.is_not(None), c_.accelerator.is_not(None))
            .group_by(c_.site, c_.accelerator)
        )
        with self.engine.connect() as c:
            return {(site, acc): int(n or 0) for site, acc, n in c.execute(q)}

    def count_jobs(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(t.jobs)).scalar_one())

    def job_events(self, job_id: str) -> list[dict[str, Any]]:
        q = select(t.job_events).where(t.job_events.c.job_id == job_id).order_by(t.job_events.c.seq)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def cancel_job(self, job_id: str, now_s: float, reason: str = "cancelled by tenant") -> JobRecord:
        """Move a job to CANCELLED; a job already finished keeps its state (InvalidTransition)."""
        for _ in range(10):
            job = self.get_job(job_id)
            if job is None:
                raise StoreError(f"no job '{job_id}'")
            if self.transition(job, JobState.CANCELLED, now_s, "cancelled", reason, finished_s=now_s, reason=reason):
                return self.get_job(job_id)  # type: ignore[return-value]
        raise StoreError(f"job '{job_id}' changed too often to cancel; retry")

    # -- jobs: reconciler side --------------------------------------------------------------------
    def active_jobs(self) -> list[JobRecord]:
        """Jobs the reconciler must look at: waiting, placed, running, or cancelled but not released
        (ordered by seq), as committed now. One full read; `cpnet.control.live_jobs` follows them
        incrementally through `job_changes`."""
        return self.job_changes(None)[1]

    def job_changes(self, after_seq: int | None) -> tuple[int, list[JobRecord]]:
        """The change feed: (feed position, jobs), jobs in seq order.

        `after_seq` None: every active job (as `active_jobs`), current at least as of the position
        returned. Else the jobs named by events in (after_seq, position], in whatever state they
        are now (a job that left the active set is among them); none when nothing happened.
        The position is read first: a change committed after it is named again by the next call.
        """
        with self.engine.connect() as c:
            top = int(c.execute(select(func.coalesce(func.max(t.job_events.c.seq), 0))).scalar_one())
            if after_seq is None:
                q = select(t.jobs).where((t.jobs.c.state.in_(_LIVE_STATES)) | (t.jobs.c.released == False))  # noqa: E712
            elif top <= after_seq:
                return top, []
            else:
                named = select(t.job_events.c.job_id).where(and_(t.job_events.c.seq > after_seq, t.job_events.c.seq <= top))
                q = select(t.jobs).where(t.jobs.c.id.in_(named))
            return top, [_job(r) for r in c.execute(q.order_by(t.jobs.c.seq))]

    def transition(self, job: JobRecord, dst: JobState, now_s: float, kind: str, message: str = "", *, ended: AttemptEnd | None = None, **fields: Any) -> bool:
        """Apply `job.state -> dst` if the row still has `job.version`; False if it changed meanwhile.
        With `ended`: in the same transaction, the job's attempt ends and its bill is appended.

        Raises InvalidTransition (and writes nothing) when the table forbids the change.
        """
        check_transition(job.id, job.state, dst)
        with self.engine.begin() as c:
            self._feed_lock(c)
            ok = self._transition(c, job, dst, now_s, kind, message, fields)
            if ok and ended is not None:
                self._end_attempt(c, job.id, ended)
            return ok

    def _transition(self, c: Any, job: JobRecord, dst: JobState, now_s: float, kind: str, message: str, fields: Mapping[str, Any]) -> bool:
        check_transition(job.id, job.state, dst)
        res = c.execute(
            update(t.jobs).where(and_(t.jobs.c.id == job.id, t.jobs.c.version == job.version)).values(state=dst.value, version=job.version + 1, **fields)
        )
        if res.rowcount != 1:
            return False
        c.execute(insert(t.job_events).values(job_id=job.id, t_s=now_s, kind=kind, from_state=job.state.value, to_state=dst.value, message=message))
        return True

    def apply_decision(
        self,
        now_s: float,
        policy: str,
        record: Mapping[str, Any] | None,
        changes: Sequence[tuple[JobRecord, JobState, str, str, Mapping[str, Any]]],
    ) -> list[bool]:
        """In ONE transaction: the decision row (if `record`) and each (job, dst, kind, message,
        fields) transition; returns which transitions applied (a stale version is skipped)."""
        for job, dst, *_ in changes:
            check_transition(job.id, job.state, dst)
        with self.engine.begin() as c:
            self._feed_lock(c)
            if record is not None:
                c.execute(insert(t.decisions).values(t_s=now_s, policy=policy, **record))
            return [self._transition(c, job, dst, now_s, kind, msg, fields) for job, dst, kind, msg, fields in changes]

    def update_job(self, job: JobRecord, now_s: float, kind: str, message: str = "", *, ended: AttemptEnd | None = None, **fields: Any) -> bool:
        """Change fields without a state change (e.g. record the handle); versioned like transition,
        and like it ends the attempt with `ended`.

        Always writes an event (kind "updated" when none is given): events are the change feed."""
        with self.engine.begin() as c:
            self._feed_lock(c)
            res = c.execute(update(t.jobs).where(and_(t.jobs.c.id == job.id, t.jobs.c.version == job.version)).values(version=job.version + 1, **fields))
            if res.rowcount != 1:
                return False
            c.execute(insert(t.job_events).values(job_id=job.id, t_s=now_s, kind=kind or "updated", message=message))
            if ended is not None:
                self._end_attempt(c, job.id, ended)
            return True

    def set_wait_reasons(self, reasons: Mapping[str, str]) -> None:
        """Set the `reason` of pending jobs (why each waits), in one transaction. Not versioned and
        no event: a wait reason is a view of the last decision, and a job no longer pending keeps its own."""
        # Plain values to the driver (a reconciler step writes hundreds of these; SQLAlchemy's per-row
        # parameter processing would cost more than the updates): SQLite an executemany, PostgreSQL
        # one UPDATE ... FROM unnest(arrays) instead of a round trip per row.
        pending = JobState.PENDING.value
        with self.engine.begin() as c:
            if self.sqlite:
                c.exec_driver_sql(f"UPDATE {t.jobs.name} SET reason = ? WHERE id = ? AND state = '{pending}'", [(v, k) for k, v in reasons.items()])
            else:
                c.exec_driver_sql(
                    f"UPDATE {t.jobs.name} AS j SET reason = u.why FROM unnest(%s::text[], %s::text[]) AS u(id, why) WHERE j.id = u.id AND j.state = '{pending}'",
                    (list(reasons), list(reasons.values())),
                )

    def add_event(self, job_id: str, now_s: float, kind: str, message: str) -> None:
        with self.engine.begin() as c:
            self._feed_lock(c)
            c.execute(insert(t.job_events).values(job_id=job_id, t_s=now_s, kind=kind, message=message))

    def start_jobs(self, started: Sequence[tuple[JobRecord, str, str]], now_s: float) -> list[bool]:
        """In ONE transaction, each launched (job as SCHEDULED, handle, event message): RUNNING with
        its handle and started_s, its event, and its attempt's usage row opened. Returns which
        applied; a job changed meanwhile (a cancel) is skipped, as `transition` skips it. The events
        and usage rows go in one multi-row INSERT each (a round trip per statement is what costs)."""
        for job, *_ in started:
            check_transition(job.id, job.state, JobState.RUNNING)
        out: list[bool] = []
        with self.engine.begin() as c:
            self._feed_lock(c)
            for job, handle, _ in started:
                stmt = update(t.jobs).where(and_(t.jobs.c.id == job.id, t.jobs.c.version == job.version))
                out.append(c.execute(stmt.values(state=JobState.RUNNING.value, version=job.version + 1, handle=handle, started_s=now_s)).rowcount == 1)
            applied = [(job, message) for (job, _, message), ok in zip(started, out, strict=True) if ok]
            if applied:
                c.execute(
                    insert(t.job_events),
                    [dict(job_id=j.id, t_s=now_s, kind="started", from_state=j.state.value, to_state=JobState.RUNNING.value, message=m) for j, m in applied],
                )
                c.execute(
                    self._insert_ignore(t.attempts),  # a row of this attempt may exist already (an adopted job whose start was recorded)
                    [
                        dict(
                            job_id=j.id,
                            attempt=j.attempt,
                            tenant_id=j.tenant_id,
                            site=j.site,
                            accelerator=j.accelerator,
                            num_devices=j.num_devices,
                            start_s=now_s,
                        )
                        for j, _ in applied
                    ],
                )
        return out

    def end_attempt(self, job_id: str, ended: AttemptEnd) -> None:
        """End an attempt on its own (no job change with it), with its bill if it has one."""
        with self.engine.begin() as c:
            self._end_attempt(c, job_id, ended)

    def _end_attempt(self, c: Any, job_id: str, e: AttemptEnd) -> None:
        # Only an attempt still open ends (and is billed): an end seen twice bills once.
        res = c.execute(
            update(t.attempts)
            .where(and_(t.attempts.c.job_id == job_id, t.attempts.c.attempt == e.attempt, t.attempts.c.end_s.is_(None)))
            .values(end_s=e.end_s, energy_kwh=e.energy_kwh, device_s=e.device_s, device_s_source=e.device_s_source)
        )
        if res.rowcount == 1 and e.bill is not None:
            ledger.append(c, [e.bill])

    def ledger_records(self, tenant_id: str | None = None, since_s: float | None = None, until_s: float | None = None) -> list[dict[str, Any]]:
        """Ledger records in seq order, of one tenant and ended within [since_s, until_s) when given."""
        q = select(t.ledger).order_by(t.ledger.c.seq)
        if tenant_id is not None:
            q = q.where(t.ledger.c.tenant_id == tenant_id)
        if since_s is not None:
            q = q.where(t.ledger.c.t_s >= since_s)
        if until_s is not None:
            q = q.where(t.ledger.c.t_s < until_s)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def ledger_span(self, tenant_id: str) -> tuple[float, float] | None:
        """When the tenant's first and last records were billed; None when it has none."""
        with self.engine.connect() as c:
            lo, hi = c.execute(select(func.min(t.ledger.c.t_s), func.max(t.ledger.c.t_s)).where(t.ledger.c.tenant_id == tenant_id)).one()
        return None if lo is None else (float(lo), float(hi))

    def ledger_spent(self, tenant_ids: Iterable[str], since_s: float, until_s: float) -> tuple[float, float]:
        """(CU x s, USD) the ledger billed these tenants within [since_s, until_s)."""
        lg = t.ledger.c
        with self.engine.connect() as c:
            cu, usd = c.execute(
                select(func.coalesce(func.sum(lg.cu), 0.0), func.coalesce(func.sum(lg.amount_usd), 0.0)).where(
                    lg.tenant_id.in_(list(tenant_ids)), lg.t_s >= since_s, lg.t_s < until_s
                )
            ).one()
        return float(cu), float(usd)

    def verify_ledger(self, workers: int | None = None) -> ledger.Verification:
        return ledger.verify(self.engine, workers=workers)

    def record_decision(self, now_s: float, policy: str, placements: Sequence[Any], preemptions: Sequence[str], infeasible: Sequence[Any]) -> None:
        with self.engine.begin() as c:
            c.execute(
                insert(t.decisions).values(t_s=now_s, policy=policy, placements=list(placements), preemptions=list(preemptions), infeasible=list(infeasible))
            )

    def save_policy_state(self, policy: str, state: Any, now_s: float) -> None:
        """Replace `policy`'s stored state (a policy's key: its name and parameters). Pickle, not JSON:
        round accounting is keyed by tuples; the bytes live in the operator's own store, which only
        the server writes."""
        data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        with self.engine.begin() as c:
            c.execute(delete(t.policy_states).where(t.policy_states.c.policy == policy))
            c.execute(insert(t.policy_states).values(policy=policy, t_s=now_s, state=data))

    def policy_state(self, policy: str) -> tuple[float, Any] | None:
        """(when it was saved, the state) of `policy`; None if never saved or no longer readable
        (saved by another version of cpnet: the policy starts afresh)."""
        with self.engine.connect() as c:
            row = c.execute(select(t.policy_states.c.t_s, t.policy_states.c.state).where(t.policy_states.c.policy == policy)).first()
        if row is None:
            return None
        try:
            return float(row[0]), pickle.loads(bytes(row[1]))  # trusted: see save_policy_state
        except Exception as e:  # any unreadable state means the same: start afresh
            log.warning("stored state of policy %s is unreadable (%s); it starts afresh", policy, e)
            return None

    def decisions(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(select(t.decisions).order_by(t.decisions.c.seq))]

    # -- usage ------------------------------------------------------------------------------------
    def usage_rows(self, tenant_id: str | None = None, *, since_s: float | None = None, until_s: float | None = None) -> list[dict[str, Any]]:
        """Attempts rows (every tenant's when `tenant_id` is None). With `since_s` / `until_s`: only
        attempts that may overlap [since_s, until_s): started before `until_s` and running or ended
        at or after `since_s` (the caller cuts each to the window, `attempt_usage`)."""
        a = t.attempts.c
        q = select(t.attempts)
        if tenant_id is not None:
            q = q.where(a.tenant_id == tenant_id)
        if until_s is not None:
            q = q.where(a.start_s < until_s)
        if since_s is not None:
            q = q.where(a.end_s.is_(None) | (a.end_s >= since_s))
        with self.engine.connect() as c:
            result = c.execute(q)
            keys = list(result.keys())
            return [dict(zip(keys, r, strict=True)) for r in result]  # rows unpack as tuples: a third of r._mapping's cost per row

    def ended_stretches(self) -> list[tuple[str, str | None, str, float, float]]:
        """(tenant, job type (None: not given), accelerator, device-seconds, end) of every ended attempt, in end order:
        the usage history fair share reads (`Snapshot.usage_log`), rebuilt from the store after a restart."""
        a, j = t.attempts.c, t.jobs.c
        q = (
            select(a.tenant_id, j.spec, a.accelerator, a.device_s, a.start_s, a.end_s, a.num_devices)
            .join(t.jobs, j.id == a.job_id)
            .where(a.end_s.is_not(None))
            .order_by(a.end_s, a.job_id, a.attempt)
        )
        out = []
        with self.engine.connect() as c:
            for tenant, spec, model, device_s, start_s, end_s, n in c.execute(q):
                used = float(device_s) if device_s is not None else max(end_s - start_s, 0.0) * n
                out.append((tenant, (spec or {}).get("job_type"), model, used, float(end_s)))
        return out

    def job_attempts(self, job_id: str) -> list[dict[str, Any]]:
        q = select(t.attempts).where(t.attempts.c.job_id == job_id).order_by(t.attempts.c.attempt)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    # -- sites ------------------------------------------------------------------------------------
    def upsert_site(self, site: Site, source: str, now_s: float, heartbeat_timeout_s: float | None = None) -> None:
        """Create or replace a site's description; a known site keeps its state."""
        values = dict(
            tier=site.tier.value,
            region=site.region,
            lat=site.lat,
            lon=site.lon,
            inventory=dict(site.inventory),
            emulated=sorted(site.emulated),
            pue=site.pue,
            price_usd_per_kwh=site.price_usd_per_kwh,
            carbon_g_per_kwh=site.carbon_g_per_kwh,
            power_cap_kw=site.power_cap_kw,
            source=source,
            heartbeat_s=now_s,
            heartbeat_timeout_s=heartbeat_timeout_s,
        )
        with self.engine.begin() as c:
            row = c.execute(select(t.sites.c.version).where(t.sites.c.id == site.id)).first()
            if row is None:
                c.execute(insert(t.sites).values(id=site.id, state=SiteState.UP.value, version=1, **values))
            else:
                c.execute(update(t.sites).where(t.sites.c.id == site.id).values(version=row.version + 1, **values))

    def heartbeat(self, site_id: str, now_s: float, inventory: Mapping[str, int] | None = None) -> SiteRecord:
        rec = self.get_site(site_id)
        if rec is None:
            raise StoreError(f"no site '{site_id}'")
        values: dict[str, Any] = {"heartbeat_s": now_s, "version": rec.version + 1}
        if inventory is not None:
            values["inventory"] = dict(inventory)
        if rec.state == SiteState.DOWN:
            check_site_transition(site_id, rec.state, SiteState.UP)
            values["state"] = SiteState.UP.value
        with self.engine.begin() as c:
            c.execute(update(t.sites).where(t.sites.c.id == site_id).values(**values))
        return self.get_site(site_id)  # type: ignore[return-value]

    def set_site_state(self, site_id: str, dst: SiteState) -> bool:
        rec = self.get_site(site_id)
        if rec is None:
            raise StoreError(f"no site '{site_id}'")
        if rec.state == dst:
            return False
        check_site_transition(site_id, rec.state, dst)
        with self.engine.begin() as c:
            res = c.execute(
                update(t.sites).where(and_(t.sites.c.id == site_id, t.sites.c.version == rec.version)).values(state=dst.value, version=rec.version + 1)
            )
        return res.rowcount == 1

    def get_site(self, site_id: str) -> SiteRecord | None:
        with self.engine.connect() as c:
            row = c.execute(select(t.sites).where(t.sites.c.id == site_id)).first()
        return None if row is None else _site(row)

    def list_sites(self, ids: Sequence[str] | None = None) -> list[SiteRecord]:
        """Every site (or those of `ids`), in id order."""
        q = select(t.sites).order_by(t.sites.c.id)
        if ids is not None:
            q = q.where(t.sites.c.id.in_(list(ids)))
        with self.engine.connect() as c:
            return [_site(r) for r in c.execute(q)]

    def sites_stamp(self) -> tuple[int, int]:
        """(sites, sum of their versions): every write of a site row raises its version and none is
        deleted, so the stamp moves exactly when a site was added or written. One aggregate row."""
        with self.engine.connect() as c:
            n, total = c.execute(select(func.count(), func.coalesce(func.sum(t.sites.c.version), 0)).select_from(t.sites)).one()
        return int(n), int(total)

    def site_versions(self) -> dict[str, int]:
        """Site id -> its row's version, in id order: every write of a site row raises its version
        (and none is deleted), so a reader that keeps records by (id, version) re-reads only these."""
        with self.engine.connect() as c:
            return {r.id: r.version for r in c.execute(select(t.sites.c.id, t.sites.c.version).order_by(t.sites.c.id))}
