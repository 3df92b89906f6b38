"""`cpnet scenario list` and `cpnet scenario show NAME|FILE`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from cpnet.scenario import DEFAULT_SCENARIO, Scenario, load_scenario, scenario_names

scenario_app = typer.Typer(
    name="scenario",
    help="Bundled scenarios (sites, links, tenants) and scenario files.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(scenario_app, name="scenario")


@scenario_app.command("list", help="List the bundled scenarios.")
def list_scenarios() -> None:
    table = Table(title="Bundled scenarios")
    table.add_column("name", no_wrap=True)
    table.add_column("sites", justify="right")
    table.add_column("devices", justify="right")
    table.add_column("description")
    for name in scenario_names():
        scenario = load_scenario(name)
        label = f"{name} (default)" if name == DEFAULT_SCENARIO else name
        devices = sum(scenario.total_inventory().values())
        table.add_row(label, str(len(scenario.sites)), f"{devices:,}", scenario.description)
    Console().print(table)


@scenario_app.command("show", help="Show a scenario's sites and links (a bundled name or a YAML file).")
def show(
    name_or_file: Annotated[str, typer.Argument(metavar="NAME|FILE", help="Bundled scenario name or YAML path.")] = DEFAULT_SCENARIO,
) -> None:
    scenario = load_scenario(name_or_file)
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
