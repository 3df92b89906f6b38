"""The usage ledger: append-only records of what each run used and cost, chained by SHA-256.

    hash(record n) = sha256(hash(record n-1) + "|".join(repr(v) for v in the record's fields)),  hash(record 0) = GENESIS

`seq` is not hashed: order is what `prev_hash` chains. So `verify` tells apart a record whose
contents changed (its hash no longer matches them), a gap in `seq` (records removed) and a record
that no longer follows its predecessor (removed and renumbered, or reordered). The tip
(`ledger_head`: last seq and hash) catches records cut from the end, and every ended attempt with
device-seconds must have its record (a bill lost). Someone who can rewrite the whole table and its
tip can forge a consistent chain: export `head_hash` elsewhere (it is printed by `cpnet ledger
verify`) to anchor it.

Records are appended inside the caller's transaction (`append`), the one that ends the attempt
they bill; the tip row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite has one writer), so
concurrent appends chain one after another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass, field, fields
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from cpnet.control.store import schema as t

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One billed run: what it held, used and cost. Numbers are floats, counts ints (hashed by repr)."""

    t_s: float
    tenant_id: str
    kind: str
    ref: str
    attempt: int
    site: str
    accelerator: str
    num_devices: int
    start_s: float
    end_s: float
    device_s: float
    cu: float | None
    energy_kwh: float
    energy_source: str
    kg_co2: float
    tariff: str
    compute_usd: float
    energy_usd: float
    carbon_usd: float
    amount_usd: float

    def __post_init__(self) -> None:  # the types the database gives back, so a record hashes alike before and after
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("float", "float | None") and v is not None:
                object.__setattr__(self, f.name, float(v))
            elif f.type == "int":
                object.__setattr__(self, f.name, int(v))


FIELDS = tuple(f.name for f in fields(UsageRecord))


def record_hash(prev_hash: str, values: Iterable[Any]) -> str:
    return hashlib.sha256((prev_hash + "|".join(map(repr, values))).encode()).hexdigest()


def append(conn: Connection, records: Sequence[UsageRecord]) -> int:
    """Append `records` in `conn`'s transaction; returns the last seq."""
    seq, h = conn.execute(select(t.ledger_head.c.seq, t.ledger_head.c.hash).where(t.ledger_head.c.id == 1).with_for_update()).one()
    rows = []
    for r in records:
        seq += 1
        values = astuple(r)
        prev, h = h, record_hash(h, values)
        rows.append({"seq": seq, **dict(zip(FIELDS, values, strict=True)), "prev_hash": prev, "hash": h})
    if rows:
        conn.execute(insert(t.ledger), rows)
        conn.execute(update(t.ledger_head).where(t.ledger_head.c.id == 1).values(seq=seq, hash=h))
    return int(seq)


@dataclass(frozen=True, slots=True)
class Break:
    seq: int
    problem: str  # changed | removed | reordered
    detail: str


@dataclass(frozen=True, slots=True)
class Verification:
    records: int
    head_seq: int
    head_hash: str
    first_break: Break | None
    unbilled: tuple[tuple[str, int], ...] = field(default=())  # ended attempts (job, attempt) without a record

    @property
    def ok(self) -> bool:
        return self.first_break is None and not self.unbilled


def _rows(result: Any, batch: int) -> Iterator[Any]:
    while chunk := result.fetchmany(batch):
        yield from chunk


def verify(engine: Engine, batch: int = 50_000) -> Verification:
    """Recompute the chain in seq order; the first break, if any, and ended attempts without a record."""
    n, last_seq, prev = 0, 0, GENESIS
    first: Break | None = None
    with engine.connect() as c:
        head_seq, head_hash, billed_after_s = c.execute(
            select(t.ledger_head.c.seq, t.ledger_head.c.hash, t.ledger_head.c.billed_after_s).where(t.ledger_head.c.id == 1)
        ).one()
        # plain driver rows (SQLAlchemy's per-row processing would cost more than the hashing)
        q = f"SELECT seq, prev_hash, hash, {', '.join(FIELDS)} FROM {t.ledger.name} ORDER BY seq"
        for row in _rows(c.execution_options(stream_results=True).exec_driver_sql(q), batch):
            seq, prev_hash, stored = row[0], row[1], row[2]
            n += 1
            if seq != last_seq + 1:
                first = Break(last_seq + 1, "removed", f"records {last_seq + 1}-{seq - 1} are missing (the next present is {seq})")
            elif record_hash(prev_hash, row[3:]) != stored:
                first = Break(seq, "changed", f"record {seq}'s contents no longer match its hash")
            elif prev_hash != prev:
                first = Break(seq, "reordered", f"record {seq} does not follow record {seq - 1}: a record before it was removed, or the order changed")
            if first is not None:
                break
            last_seq, prev = seq, stored
        if first is None and (head_seq, head_hash) != (last_seq, prev):
            first = (
                Break(last_seq + 1, "removed", f"the ledger's tip is record {head_seq}, the last present is {last_seq}: records after it were removed")
                if head_seq > last_seq
                else Break(last_seq, "changed", f"the ledger's tip (record {head_seq}) does not match its last record {last_seq}")
            )
        a, lg = t.attempts.c, t.ledger.c
        gone = c.execute(
            select(a.job_id, a.attempt)
            .outerjoin(t.ledger, and_(lg.kind == "attempt", lg.ref == a.job_id, lg.attempt == a.attempt))
            .where(and_(a.end_s.is_not(None), a.device_s.is_not(None), lg.seq.is_(None), a.end_s > (billed_after_s if billed_after_s is not None else -1e300)))
            .order_by(a.end_s)
            .limit(100)
        ).all()
    return Verification(n, int(head_seq), str(head_hash), first, tuple((str(j), int(k)) for j, k in gone))
