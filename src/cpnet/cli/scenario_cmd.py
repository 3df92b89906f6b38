"""`cpnet scenario list` and `cpnet scenario show NAME|FILE` (each also `--json` and `--csv`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from cpnet.cli.output import Col, CsvOpt, JsonOpt, emit, output_format
from cpnet.core.model import Site
from cpnet.scenario.defaults import DEFAULT_SCENARIO

if TYPE_CHECKING:
    from cpnet.scenario import Scenario

scenario_app = typer.Typer(
    name="scenario",
    help="Bundled scenarios (sites, links, tenants) and scenario files.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(scenario_app, name="scenario")


_LIST_COLS = [
    Col("name", no_wrap=True),
    Col("default"),
    Col("sites", justify="right"),
    Col("devices", justify="right"),
    Col("description"),
]


@scenario_app.command("list", help="List the bundled scenarios (--json: a list of objects; --csv: one line per scenario).")
def list_scenarios(as_json: JsonOpt = False, as_csv: CsvOpt = False) -> None:
    from cpnet.scenario import load_scenario, scenario_names  # here: the schemas load only when a command needs them

    fmt = output_format(as_json, as_csv)
    rows: list[dict[str, Any]] = []
    for name in scenario_names():
        scenario = load_scenario(name)
        rows.append(
            {
                "name": name,
                "default": name == DEFAULT_SCENARIO,
                "sites": len(scenario.sites),
                "devices": sum(scenario.total_inventory().values()),
                "description": scenario.description,
            }
        )
    if fmt != "table":
        emit(rows, _LIST_COLS, fmt)
        return
    table = Table(title="Bundled scenarios")
    table.add_column("name", no_wrap=True)
    table.add_column("sites", justify="right")
    table.add_column("devices", justify="right")
    table.add_column("description")
    for r in rows:
        label = f"{r['name']} (default)" if r["default"] else r["name"]
        table.add_row(label, str(r["sites"]), f"{r['devices']:,}", r["description"])
    Console().print(table)


# One line per site in --csv (inventory and emulated as compact JSON); --json has links and tenants too.
_SITE_COLS = [
    Col(k) for k in ("id", "tier", "region", "lat", "lon", "devices", "inventory", "emulated", "pue", "price_usd_per_kwh", "carbon_g_per_kwh", "power_cap_kw")
]


def _site_row(s: Site) -> dict[str, Any]:
    return {
        "id": s.id,
        "tier": s.tier.value,
        "region": s.region,
        "lat": s.lat,
        "lon": s.lon,
        "devices": sum(s.inventory.values()),
        "inventory": dict(s.inventory),
        "emulated": sorted(s.emulated),
        "pue": s.pue,
        "price_usd_per_kwh": s.price_usd_per_kwh,
        "carbon_g_per_kwh": s.carbon_g_per_kwh,
        "power_cap_kw": s.power_cap_kw,
    }


def _scenario_doc(scenario: Scenario) -> dict[str, Any]:
    declared = {frozenset((link.a, link.b)) for link in scenario.links}
    return {
        "name": scenario.name,
        "description": scenario.description,
        "sites": [_site_row(s) for s in scenario.sites],
        "links": [
            {"a": k.a, "b": k.b, "latency_ms": k.latency_ms, "bandwidth_gbps": k.bandwidth_gbps, "declared": frozenset((k.a, k.b)) in declared}
            for k in scenario.network_links()
        ],
        "tenants": [{"id": t.id, "weight": t.weight, "home_site": t.home_site} for t in scenario.tenants.values()],
    }


@scenario_app.command(
    "show", help="Show a scenario's sites and links (a bundled name or a YAML file); --json: sites, links and tenants; --csv: one line per site."
)
def show(
    name_or_file: Annotated[str, typer.Argument(metavar="NAME|FILE", help="Bundled scenario name or YAML path.")] = DEFAULT_SCENARIO,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    from cpnet.scenario import load_scenario

    fmt = output_format(as_json, as_csv)
    scenario = load_scenario(name_or_file)
    if fmt != "table":
        emit([_site_row(s) for s in scenario.sites], _SITE_COLS, fmt, doc=_scenario_doc(scenario) if fmt == "json" else None)
        return
    console = Console()
    console.print(_sites_table(scenario))
    console.print(_inventory_table(scenario))
    console.print(_links_summary(scenario))
    tenants = ", ".join(f"{t.id} (weight {t.weight:g})" for t in scenario.tenants.values())
    console.print(f"Tenants: {tenants}")


def _sites_table(scenario: Scenario) -> Table:
    # Region last (cut with an ellipsis on narrow terminals), so the numbers always stay readable.
    totals = scenario.total_inventory()
    title = f"{scenario.name}: {len(scenario.sites)} sites, {sum(totals.values()):,} devices"
    table = Table(title=title, caption=scenario.description or None, box=box.SIMPLE_HEAD)
    table.add_column("site", no_wrap=True, min_width=max(len(s.id) for s in scenario.sites))
    table.add_column("tier", no_wrap=True, min_width=6)
    for header in ("devices", "PUE", "USD/kWh", "gCO2/kWh"):
        table.add_column(header, justify="right", no_wrap=True, min_width=max(len(header), 5))
    table.add_column("region", no_wrap=True, overflow="ellipsis")
    for s in scenario.sites:
        table.add_row(
            s.id,
            s.tier.value,
            f"{sum(s.inventory.values()):,}",
            f"{s.pue:.2f}",
            f"{s.price_usd_per_kwh:.3f}",
            f"{s.carbon_g_per_kwh:.0f}",
            s.region,
        )
    return table


def _inventory_table(scenario: Scenario) -> Table:
    table = Table(title="Inventory (devices per accelerator model)", box=box.SIMPLE_HEAD)
    table.add_column("site", no_wrap=True)
    table.add_column("inventory", overflow="fold")
    for s in scenario.sites:
        inventory = ", ".join(f"{m} {n}" for m, n in s.inventory.items())
        if s.emulated:
            inventory += f" (emulated: {', '.join(sorted(s.emulated))})"
        table.add_row(s.id, inventory)
    total = ", ".join(f"{m} {n:,}" for m, n in scenario.total_inventory().items())
    table.add_row("[bold]total[/bold]", total)
    return table


def _links_summary(scenario: Scenario) -> str:
    declared = len(scenario.links)
    mesh = scenario.network_links()
    if not mesh:
        return f"Links: {declared} declared; no site pairs to connect." if len(scenario.sites) < 2 else f"Links: {declared} declared."
    latencies = sorted(link.latency_ms for link in mesh)
    derived = len(mesh) - declared
    rule = scenario.network
    lines = [
        f"Links: {declared} declared, {derived} derived from distance; {len(mesh)} connected pairs, "
        f"latency {latencies[0]:.1f}-{latencies[-1]:.1f} ms RTT (median {latencies[len(latencies) // 2]:.1f} ms).",
    ]
    if derived:
        lines.append(
            f"Unlinked pairs: 2 x great-circle km x route factor {rule.route_factor:g} x {rule.fibre_us_per_km:g} us/km"
            f" + {rule.overhead_ms:g} ms, {rule.default_bandwidth_gbps:g} Gbps."
        )
    return "\n".join(lines)
