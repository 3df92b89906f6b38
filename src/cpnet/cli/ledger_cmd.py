"""`cpnet ledger`: the usage ledger, read from the server's database directly."""

from __future__ import annotations

import json

import typer

from cpnet.cli.admin_cmd import DataOpt, _store
from cpnet.cli.db_option import DbOpt

ledger = typer.Typer(help="The usage ledger: one hash-chained record per ended run (works on the database directly).", no_args_is_help=True)


@ledger.command("verify")
def verify(db: DbOpt = None, data_dir: DataOpt = None, as_json: bool = typer.Option(False, "--json", help="print the result as JSON")) -> None:
    """Recompute the hash chain; name the first record changed, removed or reordered, and any ended
    run without its record. Exit 1 when the ledger does not verify. Keep the printed head hash
    elsewhere: a later verify that prints another head for the same record count means a rewrite."""
    store = _store(db, data_dir)
    try:
        v = store.verify_ledger()
    finally:
        store.close()
    brk = v.first_break
    if as_json:
        out = {"ok": v.ok, "records": v.records, "head_seq": v.head_seq, "head_hash": v.head_hash}
        out["first_break"] = None if brk is None else {"seq": brk.seq, "problem": brk.problem, "detail": brk.detail}
        out["unbilled"] = [{"job": j, "attempt": a} for j, a in v.unbilled]
        typer.echo(json.dumps(out, indent=2))
    else:
        if brk is not None:
            typer.echo(f"ledger broken at record {brk.seq} ({brk.problem}): {brk.detail}")
        for j, a in v.unbilled:
            typer.echo(f"ended run without a record: job {j} attempt {a}")
        if v.ok:
            typer.echo(f"ledger ok: {v.records} records, head {v.head_seq} {v.head_hash}")
    if not v.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(ledger, name="ledger")
