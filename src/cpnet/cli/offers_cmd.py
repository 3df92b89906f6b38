"""`cpnet offers`: what the network offers now, per site and accelerator model (`GET /v1/offers`).

Like `sky show-gpus` / `dstack offer`: devices free now, compute-unit rate (CU: V100
device-seconds per device-second, `cpnet.catalog.compute_units`), energy price and carbon
intensity now, the energy price of a device-hour (TDP x PUE x price), what the compute tariff
charges for a device-hour now and, with --from, the round-trip time from a region or site over the links.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from cpnet.cli.client import Client
from cpnet.cli.output import csv_text
from cpnet.core.errors import CpnetError

UrlOpt = Annotated[str | None, typer.Option("--url", help="server URL (or $CPNET_URL)")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="API token (or $CPNET_TOKEN)")]

# The columns of --csv, in order: every key of an offer in GET /v1/offers.
CSV_COLUMNS = (
    "site",
    "tier",
    "region",
    "state",
    "accelerator",
    "emulated",
    "total",
    "busy",
    "free",
    "cu_rate",
    "tdp_w",
    "pue",
    "price_usd_per_kwh",
    "energy_usd_per_device_hour",
    "tariff_usd_per_device_hour",
    "preemptible_usd_per_device_hour",
    "carbon_g_per_kwh",
    "rtt_ms",
)


class SortKey(StrEnum):
    PRICE = "price"
    CARBON = "carbon"
    FREE = "free"
    LATENCY = "latency"
    CU = "cu"


def offers(
    accelerator: Annotated[str | None, typer.Option("--accelerator", "-a", help="only this accelerator model, e.g. A100")] = None,
    min_devices: Annotated[int, typer.Option("--min-devices", "-n", min=0, help="only offers with at least this many devices free")] = 0,
    origin: Annotated[str | None, typer.Option("--from", metavar="REGION", help="show the RTT from this region of the sites (or a site id)")] = None,
    sort: Annotated[
        SortKey, typer.Option("--sort", "-s", help="price: energy per device-hour, carbon, free (most first), latency (needs --from), cu (most first)")
    ] = SortKey.PRICE,
    as_json: Annotated[bool, typer.Option("--json", help="print the server's answer as JSON")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="print CSV, one row per offer")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Offers per site and accelerator model: devices free now, CU rate, energy price, tariff price, carbon, RTT."""
    if as_json and as_csv:
        raise CpnetError("give --json or --csv, not both")
    params: dict[str, Any] = {"sort": sort.value, "min_devices": min_devices}
    if accelerator is not None:
        params["accelerator"] = accelerator
    if origin is not None:
        params["from"] = origin
    answer = Client(url, token).json("GET", "/v1/offers", params=params)
    if as_json:
        typer.echo(json.dumps(answer))
        return
    rows = answer["offers"]
    if as_csv:
        typer.echo(to_csv(rows), nl=False)
        return
    console = Console()
    if not rows:
        what = f" of {accelerator}" if accelerator else ""
        console.print(f"no offers{what} with at least {min_devices} device(s) free", highlight=False)
        return
    wide = _table(rows, origin is not None, answer, compact=False)
    console.print(wide if _fits(console, wide) else _table(rows, origin is not None, answer, compact=True), highlight=False)
    notes = [
        f"CU: {answer['cu_reference']} device-seconds per device-second (median over job types)",
        "kWh $/h: a device-hour's energy (TDP x PUE x $/kWh now)",
        f"tariff $/h (in a wide terminal, and --csv with the preemptible price): a device-hour at tariff {answer['tariff_version']} now",
    ]
    if any(o["emulated"] for o in rows):
        notes.append("* emulated accelerator (runs on another device or in simulation)")
    for note in notes:
        console.print(note, style="dim", highlight=False)


def to_csv(rows: list[dict[str, Any]]) -> str:
    return csv_text(rows, CSV_COLUMNS)


def _num(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _cells(o: dict[str, Any], with_rtt: bool, with_tariff: bool) -> list[str]:
    """The numeric cells of an offer: free/total (or the site's state), CU, $/kWh, energy $/h, tariff $/h (wide only), gCO2/kWh, RTT."""
    cells = [
        f"{o['free']}/{o['total']}" if o["state"] == "up" else o["state"],
        _num(o["cu_rate"], 2),
        _num(o["price_usd_per_kwh"], 3),
        _num(o["energy_usd_per_device_hour"], 3),
        *([_num(o["tariff_usd_per_device_hour"], 2)] if with_tariff else []),
        _num(o["carbon_g_per_kwh"], 0),
    ]
    if with_rtt:
        cells.append(_num(o["rtt_ms"], 1))
    return cells


NUMERIC_HEADERS = ("free", "CU", "$/kWh", "kWh\n$/h", "gCO2\n/kWh")


def _table(rows: list[dict[str, Any]], with_rtt: bool, answer: dict[str, Any], compact: bool) -> Table:
    """One row per offer. Wide: site, tier, region, model, numbers. Compact (a narrow terminal):
    the site's tier and region on a second line under its id, so that 80 columns hold the numbers."""
    title = f"Offers now, by {answer['sort']}" + (f", RTT from {answer['from']}" if with_rtt else "")
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    # only the site column may shrink (its text then ends in an ellipsis): numbers are never cut
    table.add_column("site", overflow="ellipsis")
    if not compact:
        table.add_column("tier", no_wrap=True)
        table.add_column("region", no_wrap=True)
    table.add_column("model", no_wrap=True)
    headers = (*NUMERIC_HEADERS[:4], *(() if compact else ("tariff\n$/h",)), *NUMERIC_HEADERS[4:], *(("RTT\nms",) if with_rtt else ()))
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    for o in rows:
        site = f"{o['site']}\n[dim]{o['tier']}, {o['region']}[/dim]" if compact else o["site"]
        where = [site] if compact else [o["site"], o["tier"], o["region"]]
        table.add_row(*where, o["accelerator"] + ("*" if o["emulated"] else ""), *_cells(o, with_rtt, not compact))
    return table


def _fits(console: Console, table: Table) -> bool:
    """Whether `table` fits the terminal without shrinking a column (measured as if it were unbounded)."""
    return Measurement.get(console, console.options.update_width(1 << 16), table).maximum <= console.width


def register(app: typer.Typer) -> None:
    app.command("offers", help="What the network offers now, per site and accelerator model (like `sky show-gpus`).")(offers)
