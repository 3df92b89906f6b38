"""`cpnet site list`: sites known to the server, their state and devices."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cpnet.cli.client import Client

site = typer.Typer(help="Sites of a cpnet server.", no_args_is_help=True)


@site.command("list")
def list_sites(
    url: Annotated[str | None, typer.Option("--url")] = None,
    token: Annotated[str | None, typer.Option("--token")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Sites with state, tier and busy/total devices per model (emulated models marked *)."""
    sites = Client(url, token).json("GET", "/v1/sites")["sites"]
    if as_json:
        typer.echo(json.dumps(sites))
        return
    table = Table("site", "state", "tier", "region", "devices (busy/total)")
    for s in sites:
        inv = ", ".join(f"{m}{'*' if m in s['emulated'] else ''} {s['busy'].get(m, 0)}/{n}" for m, n in s["inventory"].items())
        table.add_row(s["id"], s["state"], s["tier"], s["region"], inv)
    con = Console()
    con.print(table)
    if any(s["emulated"] for s in sites):
        con.print("* emulated accelerator: jobs run on this machine's CPU, not on that device")


def register(app: typer.Typer) -> None:
    app.add_typer(site, name="site")
