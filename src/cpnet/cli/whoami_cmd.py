"""`cpnet whoami`: which tenant (or admin, or org's or team's admin) the configured token belongs to, and the token's id."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cpnet.cli.client import Client


def whoami(
    url: Annotated[str | None, typer.Option("--url", help="server URL (or $CPNET_URL)")] = None,
    token: Annotated[str | None, typer.Option("--token", help="API token (or $CPNET_TOKEN)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Who the server says you are: `tenant NAME (token ID)`, `admin of NODE (token ID)` (an org's or a team's admin) or `admin (token ID)`."""
    me = Client(url, token).json("GET", "/v1/whoami")
    if as_json:
        typer.echo(json.dumps(me))
        return
    who = "admin" if me.get("admin") else f"admin of {me['admin_of']}" if me.get("admin_of") else f"tenant {me.get('tenant')}"
    typer.echo(f"{who} (token {me.get('token_id')})")


def register(app: typer.Typer) -> None:
    app.command("whoami")(whoami)
