"""`cpnet invoice`: a tenant's monthly invoice from the usage ledger (`GET /v1/invoices/{period}`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cpnet.cli.client import Client
from cpnet.cli.output import Col, CsvOpt, JsonOpt, emit, num
from cpnet.core.errors import CpnetError

_LINES = [
    Col("site", no_wrap=True),
    Col("accelerator", "model", no_wrap=True),
    Col("runs", justify="right"),
    Col("device_h", "device-h", num(2), justify="right"),
    Col("cu", "CU", num(0), justify="right"),
    Col("energy_kwh", "kWh", num(3), justify="right"),
    Col("kg_co2", "kgCO2", num(3), justify="right"),
    Col("amount_usd", "USD", num(2), justify="right", no_wrap=True),
]


def invoice(
    period: Annotated[str | None, typer.Option(metavar="YYYY-MM", help="the UTC calendar month; without it, list the months billed")] = None,
    tenant: Annotated[str | None, typer.Option(help="the tenant (an admin token must name one; a tenant token sees only its own)")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    as_html: Annotated[bool, typer.Option("--html", help="a one-page HTML invoice with a daily usage chart (print it to PDF from a browser)")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the invoice to this file instead of printing it")] = None,
    url: Annotated[str | None, typer.Option("--url", help="server URL (or $CPNET_URL)")] = None,
    token: Annotated[str | None, typer.Option("--token", help="API token (or $CPNET_TOKEN)")] = None,
) -> None:
    """A tenant's invoice for a month: one line per site and accelerator model, with device-hours,
    CU, kWh, kgCO2 and USD, summed from the usage ledger (runs billed when they ended)."""
    if sum((as_json, as_csv, as_html)) > 1:
        raise CpnetError("choose one of --json, --csv and --html")
    client = Client(url, token)
    params: dict[str, Any] = {"tenant": tenant} if tenant else {}
    if period is None:
        doc = client.json("GET", "/v1/invoices", params=params)
        if as_json:
            _write(out, _dumps(doc))
            return
        emit(
            [{"period": p["period"], "status": "provisional" if p["provisional"] else "final"} for p in doc["periods"]],
            [Col("period"), Col("status")],
            "csv" if as_csv else "table",
        )
        return
    from cpnet.control.invoice import Period

    fmt = "html" if as_html else "csv" if as_csv else "json"
    r = client.request("GET", f"/v1/invoices/{Period.parse(period)}", params={**params, "format": fmt})
    if as_json or as_csv or as_html or out is not None:
        _write(out, r.text if fmt != "json" else _dumps(r.json()))
        return
    doc = r.json()
    con = Console()
    status = "provisional (the month is not over)" if doc["provisional"] else "final"
    emit(doc["lines"], _LINES, "table", title=f"Invoice: {doc['tenant']}, {doc['period']} (UTC), {status}", console=con)
    tot = doc["totals"]
    con.print(
        f"total: {doc['runs']} runs, {tot['device_h']:,.2f} device-h, {tot['cu']:,.0f} CU, {tot['energy_kwh']:,.3f} kWh, {tot['kg_co2']:,.3f} kgCO2; "
        f"compute ${tot['compute_usd']:,.2f} + energy ${tot['energy_usd']:,.2f} + carbon ${tot['carbon_usd']:,.2f} = [bold]${tot['amount_usd']:,.2f}[/bold]"
    )


def _dumps(doc: Any) -> str:
    import json

    return json.dumps(doc, indent=2) + "\n"


def _write(out: Path | None, text: str) -> None:
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


def register(app: typer.Typer) -> None:
    app.command("invoice")(invoice)
