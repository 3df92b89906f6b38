"""`cpnet site list` and `cpnet site register`: the sites of a cpnet server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cpnet.cli.client import Client
from cpnet.cli.output import Col, CsvOpt, JsonOpt, emit, output_format
from cpnet.core.errors import CpnetError, InputError
from cpnet.core.model import Tier

site = typer.Typer(help="Sites of a cpnet server.", no_args_is_help=True)

UrlOpt = Annotated[str | None, typer.Option("--url", help="server URL (or $CPNET_URL)")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="API token (or $CPNET_TOKEN)")]
_SITE_COLS = (
    Col("id", "site", no_wrap=True),
    Col("state", no_wrap=True),
    Col("tier"),
    Col("region"),
    Col("devices", "devices (busy/total)"),
)


@site.command("list")
def list_sites(url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False, as_csv: CsvOpt = False) -> None:
    """Sites with state, tier and busy/total devices per model (emulated models marked *); --json: the server's
    records; --csv: one line per site with inventory, busy and emulated as compact JSON."""
    fmt = output_format(as_json, as_csv)
    sites = Client(url, token).json("GET", "/v1/sites")["sites"]
    if fmt == "csv":
        emit(sites, [Col(k) for k in ("id", "state", "tier", "region", "inventory", "busy", "emulated")], fmt)
        return
    rows = [{**s, "devices": ", ".join(f"{m}{'*' if m in s['emulated'] else ''} {s['busy'].get(m, 0)}/{n}" for m, n in s["inventory"].items())} for s in sites]
    con = Console()
    emit(rows, _SITE_COLS, fmt, doc=sites, console=con)
    if fmt == "table" and any(s["emulated"] for s in sites):
        con.print("* emulated accelerator: jobs run on this machine's CPU, not on that device")


# The keys of a --file: those of POST /v1/sites (the server checks every value).
FILE_KEYS = (
    "id",
    "tier",
    "region",
    "lat",
    "lon",
    "inventory",
    "emulated",
    "pue",
    "price_usd_per_kwh",
    "carbon_g_per_kwh",
    "power_cap_kw",
    "heartbeat_timeout_s",
)


def _read_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(str(path), exc.strerror or exc.__class__.__name__) from None
    except yaml.YAMLError as exc:
        raise InputError(str(path), f"not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise InputError(str(path), f"expected a mapping with keys among {', '.join(FILE_KEYS)}")
    unknown = sorted(str(k) for k in doc if k not in FILE_KEYS)
    if unknown:
        raise InputError(str(path), f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; valid: {', '.join(FILE_KEYS)}")
    inv = doc.get("inventory")
    if inv is not None and not isinstance(inv, dict):
        raise InputError(str(path), "inventory must be a mapping MODEL: N, e.g. {A100: 8}", field="inventory")
    return dict(doc)


def _parse_inventory(pairs: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in pairs:
        model, sep, n = p.partition("=")
        try:
            count = int(n)
        except ValueError:
            count = -1
        if not sep or not model or count < 0:
            raise InputError("--inventory", f"'{p}' is not MODEL=N with N a whole number of devices (e.g. A100=8)")
        out[model] = count
    return out


@site.command("register")
def register_site(
    site_id: Annotated[str | None, typer.Argument(metavar="SITE_ID", help="the site's id (or `id:` in --file)")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help=f"YAML mapping with keys among {', '.join(FILE_KEYS)}; flags override it")] = None,
    tier: Annotated[Tier | None, typer.Option(help="the site's tier (server default: edge)")] = None,
    region: Annotated[str | None, typer.Option(help="region label")] = None,
    lat: Annotated[float | None, typer.Option(help="latitude, degrees")] = None,
    lon: Annotated[float | None, typer.Option(help="longitude, degrees")] = None,
    inventory: Annotated[
        list[str] | None, typer.Option("--inventory", "-i", help="MODEL=N devices of a catalog model (repeatable; required here or in --file)")
    ] = None,
    emulated: Annotated[list[str] | None, typer.Option(help="a model whose jobs run on this machine's CPU (repeatable)")] = None,
    pue: Annotated[float | None, typer.Option(help="power usage effectiveness, 1 to 5")] = None,
    price: Annotated[float | None, typer.Option(help="electricity price, USD/kWh")] = None,
    carbon: Annotated[float | None, typer.Option(help="grid carbon intensity, gCO2/kWh")] = None,
    power_cap_kw: Annotated[float | None, typer.Option(help="facility draw limit, kW (default: none)")] = None,
    heartbeat_timeout_s: Annotated[
        float | None, typer.Option(help="seconds without a heartbeat (POST /v1/sites/ID/heartbeat) before the site is down (server default: 60)")
    ] = None,
    no_heartbeat: Annotated[bool, typer.Option("--no-heartbeat", help="the site never goes down for missing heartbeats")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a site with the server (an admin token); a site of the same id is replaced."""
    body = _read_file(file) if file is not None else {}
    flags: dict[str, Any] = {
        "id": site_id,
        "tier": None if tier is None else tier.value,
        "region": region,
        "lat": lat,
        "lon": lon,
        "inventory": _parse_inventory(inventory) if inventory else None,
        "emulated": emulated or None,
        "pue": pue,
        "price_usd_per_kwh": price,
        "carbon_g_per_kwh": carbon,
        "power_cap_kw": power_cap_kw,
        "heartbeat_timeout_s": heartbeat_timeout_s,
    }
    body.update({k: v for k, v in flags.items() if v is not None})
    if no_heartbeat:
        if heartbeat_timeout_s is not None:
            raise CpnetError("give --heartbeat-timeout-s or --no-heartbeat, not both")
        body["heartbeat_timeout_s"] = None
    if body.get("id") is None:
        raise CpnetError("give the site's id: cpnet site register SITE_ID ... (or `id:` in --file)")
    if not body.get("inventory"):
        raise CpnetError("give the site's devices: --inventory MODEL=N (repeatable), or `inventory: {MODEL: N}` in --file")
    s = Client(url, token).json("POST", "/v1/sites", json=body)
    if as_json:
        typer.echo(json.dumps(s))
        return
    devices = ", ".join(f"{m} {n}" for m, n in s["inventory"].items())
    beat = "no heartbeat needed" if s["heartbeat_timeout_s"] is None else f"down after {s['heartbeat_timeout_s']:g} s without a heartbeat"
    typer.echo(f"site {s['id']} registered: {s['tier']}, region {s['region']}, {devices}; {s['state']}, {beat}")


def register(app: typer.Typer) -> None:
    app.add_typer(site, name="site")
