"""`cpnet admin`: operator commands that work on the database directly (no server needed)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

admin = typer.Typer(help="Tenants and tokens (works on the database directly).", no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option(help="SQLAlchemy URL; default sqlite:///DATA_DIR/cpnet.db")]
DataOpt = Annotated[str, typer.Option(help="the server's data directory")]


def _store(db: str | None, data_dir: str):  # type: ignore[no-untyped-def]
    from cpnet.control.store.store import Store, default_sqlite_url

    store = Store(db or default_sqlite_url(data_dir))
    store.migrate()
    return store


@admin.command("create-tenant")
def create_tenant(
    name: Annotated[str, typer.Argument(help="tenant name")],
    weight: Annotated[float, typer.Option(help="fair-share weight")] = 1.0,
    db: DbOpt = None, data_dir: DataOpt = ".cpnet",
) -> None:
    """Create a tenant and print its API token (shown once; only a hash is stored)."""
    from cpnet.api.schemas import TenantCreate
    from cpnet.core.errors import InputError

    try:
        TenantCreate(name=name, weight=weight)
    except Exception as exc:
        raise InputError("create-tenant", f"invalid name or weight ({exc.__class__.__name__}); names: letters, digits, . _ -; weight > 0") from None
    typer.echo(_store(db, data_dir).create_tenant(name, weight, time.time()))


@admin.command("create-token")
def create_token(
    tenant: Annotated[str | None, typer.Argument(help="tenant name; omit with --admin")] = None,
    is_admin: Annotated[bool, typer.Option("--admin", help="an admin token (sees every tenant)")] = False,
    db: DbOpt = None, data_dir: DataOpt = ".cpnet",
) -> None:
    """Print a new token for a tenant, or an admin token."""
    from cpnet.core.errors import CpnetError

    if is_admin == (tenant is not None):
        raise CpnetError("give a tenant name or --admin (exactly one)")
    typer.echo(_store(db, data_dir).create_token(None if is_admin else tenant, time.time()))


def register(app: typer.Typer) -> None:
    app.add_typer(admin, name="admin")
