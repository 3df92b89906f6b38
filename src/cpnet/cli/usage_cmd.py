"""`cpnet usage`: accounting like sacct. Device-seconds, energy and energy cost in a time window,
one row per job, site, accelerator model, UTC day or tenant (`GET /v1/usage`; its docstring says
how each number is counted and cut to the window)."""

from __future__ import annotations

import time
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console

from cpnet.cli.client import Client
from cpnet.cli.output import Col, CsvOpt, JsonOpt, emit, num, output_format
from cpnet.cli.times import TIME_FORMS, parse_time


class By(StrEnum):
    job = "job"
    site = "site"
    model = "model"
    day = "day"
    tenant = "tenant"


def _when(t_s: float | None) -> str:
    return "the beginning" if t_s is None else datetime.fromtimestamp(t_s).astimezone().strftime("%Y-%m-%d %H:%M %Z")


_KEYS: dict[By, list[Col]] = {
    By.job: [Col("job", no_wrap=True), Col("tenant", min_width=8)],
    By.site: [Col("site", no_wrap=True)],
    By.model: [Col("model", no_wrap=True)],
    By.day: [Col("day", "day (UTC)", no_wrap=True)],
    By.tenant: [Col("tenant", no_wrap=True)],
}
_NUMBERS = [Col(k) for k in ("attempts", "device_s", "device_s_source", "energy_kwh", "energy_source", "energy_cost_usd")]  # --csv
# The table, narrower, so that a row by job with its tenant fits 80 columns: the two sources in
# one column ("cpnet/est"), and that only when the rows differ (else a line under the table).
_TABLE = [
    Col("attempts", justify="right", no_wrap=True),
    Col("device_s", "device-s", num(0), justify="right", no_wrap=True),
    Col("energy_kwh", "kWh", num(4), justify="right", no_wrap=True),
    Col("energy_cost_usd", "USD", num(4), justify="right", no_wrap=True),
]
_FROM = Col("from")
_SHORT = {"estimate": "est"}
_SAYS = {
    "engine": "the engine's timing",
    "cpnet": "cpnet's clock",
    "mixed": "both the engine and cpnet's clock",
    "nvml": "NVML counters",
    "estimate": "TDP x PUE estimates",
}


def _source(r: dict[str, Any]) -> str:
    return f"{r['device_s_source']}/{_SHORT.get(r['energy_source'], r['energy_source'])}"


def usage(
    since: Annotated[str | None, typer.Option(metavar="TIME", help=f"count from here: {TIME_FORMS}; default: the beginning")] = None,
    until: Annotated[str | None, typer.Option(metavar="TIME", help="count up to here (same forms); default: now")] = None,
    by: Annotated[By, typer.Option(help="one row per job, site, accelerator model, UTC day or tenant")] = By.model,
    tenant: Annotated[str | None, typer.Option(help="admin only: one tenant")] = None,
    url: Annotated[str | None, typer.Option("--url", help="server URL (or $CPNET_URL)")] = None,
    token: Annotated[str | None, typer.Option("--token", help="API token (or $CPNET_TOKEN)")] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Your usage in a time window: device-seconds, energy and energy cost, like `sacct`.

    Every tenant's with an admin token. Energy cost is kWh x the site's electricity price (energy
    only). An attempt counts the part of it inside [--since, --until), pro rata."""
    fmt = output_format(as_json, as_csv)
    now = time.time()
    params: dict[str, Any] = {"by": by.value}
    if since is not None:
        params["since"] = parse_time(since, "--since", now)
    if until is not None:
        params["until"] = parse_time(until, "--until", now)
    if tenant:
        params["tenant"] = tenant
    out = Client(url, token).json("GET", "/v1/usage", params=params)
    keys = _KEYS[by]
    if fmt != "table":
        emit(out["rows"], [*keys, *_NUMBERS], fmt, doc=out)
        return
    if by == By.job and len({r["tenant"] for r in out["rows"]}) <= 1:
        keys = keys[:1]  # one tenant (a tenant token's own): no tenant column
    con = Console()
    until_txt = "now" if until is None else _when(out["until_s"])
    title = f"Usage by {by.value}, {_when(out['since_s'])} to {until_txt}"
    sources = {(r["device_s_source"], r["energy_source"]) for r in out["rows"]}
    cols = [*keys, *_TABLE, *([_FROM] if len(sources) > 1 else [])]
    emit([{**r, "from": _source(r)} for r in out["rows"]], cols, fmt, title=title, console=con)
    if not out["rows"]:
        con.print("no usage in this window")
    if out["energy_unknown_for"]:
        con.print(f"energy not counted for {', '.join(out['energy_unknown_for'])} (no TDP in the catalog)")
    if out.get("energy_cost_unknown_for"):
        con.print(f"energy cost not counted at {', '.join(out['energy_cost_unknown_for'])} (site no longer known)")
    if len(sources) == 1:
        ((dev, energy),) = sources
        con.print(f"device-seconds from {_SAYS.get(dev, dev)}; energy from {_SAYS.get(energy, energy)}")
    elif sources:
        con.print("from: device-seconds (engine: the engine's timing, cpnet: cpnet's clock) / energy (nvml: counters, est: TDP x PUE)")
    con.print("USD: energy cost only (kWh x the site's electricity price); tariffs are not counted")


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)
