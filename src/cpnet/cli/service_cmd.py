"""`cpnet service plan`: replicas for an inference service on a scenario's network (cpnet.sched.autoscale).

Reads a service file (cpnet.scenario.service_file), takes the request rates at the busiest hour of
the day (or `--hour`), and prints the autoscaler's plan: replicas per pool (every device of the
scenario free), which pool serves each users' region, its predicted p99 end to end, and the
device-hours per hour; regions no pool can serve say why.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

service = typer.Typer(help="Inference services: replicas, steering and latency SLOs (cpnet.core.service).", no_args_is_help=True)


@service.command("plan")
def plan(
    file: Annotated[str, typer.Option("--file", "-f", help="the service file (YAML; cpnet.scenario.service_file shows every field)")],
    scenario: Annotated[str | None, typer.Option(help="scenario name or file (default: the embedded default)")] = None,
    hour: Annotated[float | None, typer.Option(min=0, max=24, help="plan for this UTC hour of the day (default: the busiest)")] = None,
) -> None:
    """Plan a service's replicas for its users' request rates and its p99 SLO (M/M/c per pool)."""
    from cpnet.core.paths import Paths
    from cpnet.core.service import Pool, rtt_by_region
    from cpnet.scenario import DEFAULT_SCENARIO, load_scenario
    from cpnet.scenario.service_file import load_service_file
    from cpnet.sched.autoscale import plan_replicas

    net = load_scenario(scenario or DEFAULT_SCENARIO)
    sf = load_service_file(file, net)
    svc = sf.service
    at_s = hour * 3600.0 if hour is not None else max(range(0, 86400, 3600), key=lambda t: sum(svc.rates_at(float(t)).values()))
    pools = [Pool(s.id, s.region, m, n) for s in net.sites for m, n in sorted(s.inventory.items()) if m in svc.accelerators and n > 0]
    rtt = rtt_by_region(Paths.build([s.id for s in net.sites], net.network_links()), sf.access_site)
    p = plan_replicas(svc, pools, rtt, None, float(at_s))
    con = Console()
    rates = svc.rates_at(float(at_s))
    table = Table(title=f"{svc.name} at {at_s / 3600:02.0f}:00 UTC: {sum(rates.values()):,.1f} requests/s, SLO p99 {svc.slo_p99_ms:g} ms")
    for col in ("pool", "replicas", "devices", "load req/s"):
        table.add_column(col, justify="left" if col == "pool" else "right")
    for pool, n in sorted(p.replicas.items(), key=lambda kv: kv[0].key):
        table.add_row(pool.label, str(n), str(n * svc.devices_per_replica), f"{p.load_rps.get(pool, 0.0):,.1f}")
    con.print(table)
    for region in sorted(rates):
        if region in p.assignment:
            con.print(f"{region}: {rates[region]:,.1f} req/s -> {p.assignment[region].label}, p99 {p.p99_ms[region]:,.1f} ms", highlight=False)
        else:
            con.print(f"{region}: {rates[region]:,.1f} req/s not served: {p.unserved.get(region, 'no pool')}", highlight=False)
    con.print(f"{p.total_replicas} replicas, {p.device_hours_per_hour:g} device-hours per hour", highlight=False)
    if p.unserved:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(service, name="service")
