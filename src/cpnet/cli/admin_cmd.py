"""`cpnet admin`: operator commands that work on the database directly (no server needed)."""

from __future__ import annotations

import math
import time
from typing import Annotated

import typer

from cpnet.cli.db_option import DbOpt, db_url

admin = typer.Typer(help="Tenants and tokens (works on the database directly; run it where the server's database is).", no_args_is_help=True)

DataOpt = Annotated[str | None, typer.Option(help="the server's data directory (default $CPNET_HOME, else ~/.local/share/cpnet)")]


def _store(db: str | None, data_dir: str | None):  # type: ignore[no-untyped-def]
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from cpnet.control.data_home import default_data_dir
    from cpnet.control.store.store import Store, default_sqlite_url
    from cpnet.core.errors import CpnetError

    url = db_url(db, None) or default_sqlite_url(data_dir or default_data_dir())
    try:
        store = Store(url)
        store.migrate()
    except SQLAlchemyError as exc:
        try:
            shown = make_url(url).render_as_string(hide_password=True)
        except SQLAlchemyError:
            shown = url.split("@")[-1]
        why = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CpnetError(f"cannot open the database {shown}: {why}") from None
    return store


def _token_id_arg(token: str) -> str:
    """A token id as given, or the id of a token given whole."""
    from cpnet.control.store.store import token_id

    return token if len(token) == 16 and all(ch in "0123456789abcdef" for ch in token) else token_id(token)


def _when(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


@admin.command("create-tenant")
def create_tenant(
    name: Annotated[str, typer.Argument(help="tenant name")],
    weight: Annotated[float, typer.Option(help="fair-share weight")] = 1.0,
    db: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Create a tenant and print its API token (shown once; only a hash is stored)."""
    from cpnet.api.schemas import TenantCreate
    from cpnet.core.errors import InputError

    try:
        TenantCreate(name=name, weight=weight)
    except Exception as exc:
        raise InputError("create-tenant", f"invalid name or weight ({exc.__class__.__name__}); names: letters, digits, . _ -; weight > 0") from None
    token = _store(db, data_dir).create_tenant(name, weight, time.time())
    typer.echo(token)
    _say_id(token)


def _say_id(token: str) -> None:
    from cpnet.control.store.store import token_id

    typer.echo(f"token id {token_id(token)} (cpnet admin revoke-token {token_id(token)} revokes it)", err=True)


@admin.command("create-token")
def create_token(
    tenant: Annotated[str | None, typer.Argument(help="tenant name; omit with --admin")] = None,
    is_admin: Annotated[bool, typer.Option("--admin", help="an admin token (sees every tenant)")] = False,
    ttl_s: Annotated[float | None, typer.Option("--ttl-s", min=1, help="the token expires this many seconds from now (default: never)")] = None,
    db: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Print a new token for a tenant, or an admin token (its id goes to stderr)."""
    from cpnet.core.errors import CpnetError

    if is_admin == (tenant is not None):
        raise CpnetError("give a tenant name or --admin (exactly one)")
    if ttl_s is not None and not ttl_s < float("inf"):
        raise CpnetError("--ttl-s must be a finite number of seconds")
    token = _store(db, data_dir).create_token(None if is_admin else tenant, time.time(), ttl_s)
    typer.echo(token)
    _say_id(token)


@admin.command("revoke-token")
def revoke_token(
    token: Annotated[str, typer.Argument(help="the token's id (list-tokens shows them), or the token itself")],
    db: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Revoke a token: every API process of a running server refuses it within a second."""
    rec = _store(db, data_dir).revoke_token(_token_id_arg(token), time.time())
    typer.echo(f"{rec.id} revoked")


@admin.command("rotate-token")
def rotate_token(
    token: Annotated[str, typer.Argument(help="the token's id (list-tokens shows them), or the token itself")],
    db: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Replace a token: revoke it and print a new one for the same owner with the same lifetime (its id goes to stderr)."""
    new_token, new, old = _store(db, data_dir).rotate_token(_token_id_arg(token), time.time())
    typer.echo(new_token)
    expires = "never expires" if new.expires_s is None else f"expires {_when(new.expires_s)}"
    typer.echo(f"token id {new.id} ({expires}; replaces {old.id}, now revoked; cpnet admin revoke-token {new.id} revokes it)", err=True)


@admin.command("set-budget")
def set_budget(
    name: Annotated[str, typer.Argument(help="tenant name")],
    amount: Annotated[float | None, typer.Option(help="at most this much per period: USD, or CU x s with --unit cu")] = None,
    unit: Annotated[str, typer.Option(help="usd (the ledger's amounts) or cu (compute-unit seconds)")] = "usd",
    period: Annotated[str, typer.Option(help="UTC calendar period: day, week (from Monday) or month")] = "month",
    clear: Annotated[bool, typer.Option("--clear", help="remove the tenant's budget")] = False,
    db: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Give a tenant a budget per calendar period, checked against the usage ledger: once the
    tenant's runs billed in the period reach it, its waiting jobs are not admitted (their reason
    says `budget:`) until the period ends or the budget is raised. Running jobs are not stopped."""
    from cpnet.core.errors import InputError
    from cpnet.core.tenancy import Budget, BudgetPeriod, BudgetUnit

    if clear == (amount is not None):
        raise InputError("set-budget", "give --amount, or --clear to remove the budget (exactly one)")
    budget = None
    if amount is not None:
        if not (math.isfinite(amount) and amount > 0):
            raise InputError("set-budget", f"--amount: expected a number > 0 (got {amount:g})")
        try:
            budget = Budget(amount, BudgetUnit(unit.lower()), BudgetPeriod(period.lower()))
        except ValueError:
            raise InputError("set-budget", f"--unit is usd or cu (got '{unit}'); --period is day, week or month (got '{period}')") from None
    store = _store(db, data_dir)
    try:
        store.set_budget(name, budget)
    finally:
        store.close()
    if budget is None:
        typer.echo(f"tenant {name}: no budget")
    else:
        what = f"${budget.amount:,.2f}" if budget.unit is BudgetUnit.USD else f"{budget.amount:,.0f} CU x s"
        typer.echo(f"tenant {name}: budget {what} per {budget.period} (UTC), checked against the usage ledger")


@admin.command("list-tenants")
def list_tenants(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    db: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Tenants: name, fair-share weight, when created, and how many live (neither revoked nor expired) tokens each has."""
    import json

    from rich.console import Console
    from rich.table import Table

    rows = _store(db, data_dir).tenant_summaries(time.time())
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("tenant", "weight", "created", "live tokens")
    for r in rows:
        table.add_row(r["name"], f"{r['weight']:g}", _when(r["created_s"]), str(r["live_tokens"]))
    Console().print(table)


@admin.command("list-tokens")
def list_tokens(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's tokens")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    db: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Tokens (their ids, owners, and states; never the tokens themselves)."""
    import json

    from rich.console import Console
    from rich.table import Column, Table

    from cpnet.core.errors import CpnetError

    now = time.time()
    store = _store(db, data_dir)
    if tenant is not None and tenant not in store.tenants():
        raise CpnetError(f"no tenant '{tenant}' (cpnet admin list-tenants shows them)")
    recs = store.list_tokens(tenant)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "tenant": r.tenant_id,
                        "admin": r.admin,
                        "created_s": r.created_s,
                        "expires_s": r.expires_s,
                        "revoked_s": r.revoked_s,
                        "state": r.state(now),
                    }
                    for r in recs
                ]
            )
        )
        return

    table = Table(Column("id", no_wrap=True, min_width=16), "owner", "state", "created", "expires", "revoked")  # ids whole: rotate/revoke take them
    for r in recs:
        owner = ("admin of " + str(r.tenant_id) if r.tenant_id else "admin") if r.admin else str(r.tenant_id)
        table.add_row(r.id, owner, r.state(now), _when(r.created_s), _when(r.expires_s), _when(r.revoked_s))
    Console().print(table)


def register(app: typer.Typer) -> None:
    from cpnet.cli.tenant_cmd import tenant

    admin.add_typer(tenant, name="tenant")
    app.add_typer(admin, name="admin")
