"""Usage ledger at scale (not a test): append --records records, verify the chain, then tamper.

Appends go through `cpnet.control.store.ledger.append` (the function each attempt's end calls in
its transaction), here in batches of --batch per transaction to load a million records in
reasonable time; `verify` is what `cpnet ledger verify` runs. Then three tamperings, each on a copy
of the chain's state undone afterwards: one changed amount, one deleted record, a swapped pair;
each must be found at the record it touched.

Prints one JSON object: append and verify seconds, records/s, whether each tampering was found, and
`met` against the target (verify < 10 s for 1,000,000 records on 2 cores).

    .venv/bin/python bench/ledger.py                      # SQLite, 1,000,000 records
    .venv/bin/python bench/ledger.py --db postgres
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from cpnet.control.store import Store
from cpnet.control.store.ledger import UsageRecord, append
from cpnet.control.store.tempserver import TemporaryPostgres


@contextlib.contextmanager
def _store(db: str) -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as d:
        if db == "sqlite":
            s = Store(f"sqlite:///{d}/ledger.db")
            s.migrate()
            yield s
            s.close()
        else:
            with TemporaryPostgres() as pg:
                s = Store(pg.create_database("ledger"))
                s.migrate()
                yield s
                s.close()


def _record(i: int) -> UsageRecord:
    return UsageRecord(
        float(i), f"t{i % 40}", "attempt", f"job{i:08d}", 1 + i % 3, f"site{i % 1000}", "A100", 8, i - 3600.0, float(i), 28800.0, 50626.7,
        2.4, "estimated", 1.2, "default-2026.1", 32.77, 0.24, 0.06, 33.07,
    )  # fmt: skip


def _found(store: Store, stmts: list[str], seq: int, problem: str) -> bool:
    with store.engine.begin() as c:
        for s in stmts:
            c.execute(text(s))
    v = store.verify_ledger()
    return v.first_break is not None and (v.first_break.seq, v.first_break.problem) == (seq, problem)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = ap.parse_args()
    with _store(args.db) as store:
        t0 = time.perf_counter()
        for lo in range(1, args.records + 1, args.batch):
            with store.engine.begin() as c:
                append(c, [_record(i) for i in range(lo, min(lo + args.batch, args.records + 1))])
            print(f"\rappended {min(lo + args.batch - 1, args.records):,}", end="", file=sys.stderr)
        print(file=sys.stderr)
        append_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        v = store.verify_ledger()
        verify_s = time.perf_counter() - t0
        mid = args.records // 2
        changed = _found(store, [f"update ledger set amount_usd = amount_usd + 0.01 where seq = {mid}"], mid, "changed")
        with store.engine.begin() as c:  # undo: the row's amount back
            c.execute(text(f"update ledger set amount_usd = amount_usd - 0.01 where seq = {mid}"))
        swapped = _found(
            store, [f"update ledger set seq = -1 where seq = {mid}", f"update ledger set seq = {mid} where seq = {mid + 1}", f"update ledger set seq = {mid + 1} where seq = -1"],
            mid, "reordered",
        )  # fmt: skip
        with store.engine.begin() as c:  # undo the swap
            for s in (
                f"update ledger set seq = -1 where seq = {mid}",
                f"update ledger set seq = {mid} where seq = {mid + 1}",
                f"update ledger set seq = {mid + 1} where seq = -1",
            ):
                c.execute(text(s))
        intact_again = store.verify_ledger().ok
        deleted = _found(store, [f"delete from ledger where seq = {mid + 7}"], mid + 7, "removed")
    out = {
        "db": args.db,
        "records": v.records,
        "append_s": round(append_s, 2),
        "append_records_per_s": round(v.records / append_s),
        "verify_s": round(verify_s, 2),
        "verify_records_per_s": round(v.records / verify_s),
        "intact_chain_ok": v.ok,
        "detects": {"changed_amount": changed, "swapped_pair": swapped, "deleted_record": deleted},
        "undone_chain_ok": intact_again,
        "cores": os.cpu_count(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "met": {"verify_under_10_s": verify_s < 10.0 and args.records >= 1_000_000, "detects_all": changed and swapped and deleted},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
