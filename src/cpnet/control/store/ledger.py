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
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass, field, fields
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

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


@dataclass(frozen=True, slots=True)
class _Range:
    """One seq range's verification: its first row's seq and prev_hash (the chain's link into it is
    checked by the caller), its last row's seq and hash, and its first break after the first link."""

    n: int
    first_seq: int | None
    first_prev: str | None
    last_seq: int
    last_hash: str | None
    brk: Break | None


def _verify_range(db: Engine | str, lo: int, hi: int, final: bool, batch: int) -> _Range:
    """Records lo..hi (inclusive): each record's hash against its contents, seq gaps, and each
    record's link to the one before it inside the range. `db`: an engine, or a URL (in a worker)."""
    from sqlalchemy import create_engine

    engine = create_engine(db) if isinstance(db, str) else db
    n, last_seq, prev = 0, lo - 1, None
    first_seq = first_prev = None
    brk: Break | None = None
    try:
        with engine.connect() as c:
            # plain driver rows (SQLAlchemy's per-row processing would cost more than the hashing)
            q = f"SELECT seq, prev_hash, hash, {', '.join(FIELDS)} FROM {t.ledger.name} WHERE seq >= {int(lo)} AND seq <= {int(hi)} ORDER BY seq"
            for row in _rows(c.execution_options(stream_results=True).exec_driver_sql(q), batch):
                seq, prev_hash, stored = row[0], row[1], row[2]
                n += 1
                if first_seq is None:
                    first_seq, first_prev = seq, prev_hash
                if seq != last_seq + 1:
                    brk = Break(last_seq + 1, "removed", f"records {last_seq + 1}-{seq - 1} are missing (the next present is {seq})")
                elif record_hash(prev_hash, row[3:]) != stored:
                    brk = Break(seq, "changed", f"record {seq}'s contents no longer match its hash")
                elif prev is not None and prev_hash != prev:
                    brk = Break(seq, "reordered", f"record {seq} does not follow record {seq - 1}: a record before it was removed, or the order changed")
                if brk is not None:
                    break
                last_seq, prev = seq, stored
    finally:
        if isinstance(db, str):
            engine.dispose()
    if brk is None and not final and last_seq < hi:
        brk = Break(last_seq + 1, "removed", f"records {last_seq + 1}-{hi} are missing (the next present is after {hi})")
    return _Range(n, first_seq, first_prev, last_seq, prev, brk)


def _ranges(max_seq: int, workers: int) -> list[tuple[int, int]]:
    step = -(-max_seq // workers)
    return [(lo, min(lo + step - 1, max_seq)) for lo in range(1, max_seq + 1, step)]


def verify(engine: Engine, batch: int = 50_000, workers: int | None = None) -> Verification:
    """Recompute the chain in seq order; the first break, if any, and ended attempts without a record.

    Each record's hash depends only on its contents and its prev_hash, so seq ranges are checked in
    parallel (`workers` processes; default: one per CPU, up to 4, for ledgers over 200,000 records),
    then the links between ranges and the tip."""
    with engine.connect() as c:
        head_seq, head_hash, billed_after_s = c.execute(
            select(t.ledger_head.c.seq, t.ledger_head.c.hash, t.ledger_head.c.billed_after_s).where(t.ledger_head.c.id == 1)
        ).one()
        max_seq = int(c.execute(select(func.coalesce(func.max(t.ledger.c.seq), 0))).scalar_one())
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if max_seq > 200_000 else 1
    ranges = _ranges(max_seq, max(1, workers)) if max_seq > 0 else []
    if len(ranges) > 1:
        url = engine.url.render_as_string(hide_password=False)
        # forkserver, not fork: the caller may have threads and open connections (a forked child could
        # inherit a held lock or a connection's socket); the server forks clean workers, each opens its own connection
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        with ctx.Pool(len(ranges)) as pool:
            parts = pool.starmap(_verify_range, [(url, lo, hi, i == len(ranges) - 1, batch) for i, (lo, hi) in enumerate(ranges)])
    else:
        parts = [_verify_range(engine, lo, hi, True, batch) for lo, hi in ranges]
    n, last_seq, prev = 0, 0, GENESIS
    first: Break | None = None
    for (lo, _hi), part in zip(ranges, parts, strict=True):
        n += part.n
        if part.first_seq is None:  # every record of the range is gone
            first = part.brk or Break(lo, "removed", f"records from {lo} are missing")
            break
        if part.brk is not None and part.brk.seq <= part.first_seq:
            first = part.brk
        elif part.first_prev != prev:
            s = part.first_seq
            first = Break(s, "reordered", f"record {s} does not follow record {s - 1}: a record before it was removed, or the order changed")
        else:
            first = part.brk
        if first is not None:
            break
        last_seq, prev = part.last_seq, part.last_hash or prev
    if first is None and (head_seq, head_hash) != (last_seq, prev):
        first = (
            Break(last_seq + 1, "removed", f"the ledger's tip is record {head_seq}, the last present is {last_seq}: records after it were removed")
            if head_seq > last_seq
            else Break(last_seq, "changed", f"the ledger's tip (record {head_seq}) does not match its last record {last_seq}")
        )
    with engine.connect() as c:
        a, lg = t.attempts.c, t.ledger.c
        gone = c.execute(
            select(a.job_id, a.attempt)
            .outerjoin(t.ledger, and_(lg.kind == "attempt", lg.ref == a.job_id, lg.attempt == a.attempt))
            .where(and_(a.end_s.is_not(None), a.device_s.is_not(None), lg.seq.is_(None), a.end_s > (billed_after_s if billed_after_s is not None else -1e300)))
            .order_by(a.end_s)
            .limit(100)
        ).all()
    return Verification(n, int(head_seq), str(head_hash), first, tuple((str(j), int(k)) for j, k in gone))
