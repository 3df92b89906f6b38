"""`cpnet usage`: device-seconds and energy per tenant and accelerator model."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cpnet.cli.client import Client


def usage(
    tenant: Annotated[str | None, typer.Option(help="admin only: one tenant")] = None,
    url: Annotated[str | None, typer.Option("--url")] = None,
    token: Annotated[str | None, typer.Option("--token")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Your usage (every tenant's with an admin token)."""
    out = Client(url, token).json("GET", "/v1/usage", params={"tenant": tenant} if tenant else {})
    if as_json:
        typer.echo(json.dumps(out))
        return
    table = Table("tenant", "accelerator", "device_s", "device_s from", "energy_kwh", "energy from")
    for t, models in sorted(out["tenants"].items()):
        for m, cell in sorted(models.items()):
            table.add_row(
                t, m, f"{cell['device_s']:.1f}", cell.get("device_s_source", "cpnet"), f"{cell['energy_kwh']:.6f}", cell.get("energy_source", "estimate")
            )
    con = Console()
    con.print(table)
    if out["energy_unknown_for"]:
        con.print(f"energy not counted for {', '.join(out['energy_unknown_for'])} (no TDP in the catalog)")


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)
