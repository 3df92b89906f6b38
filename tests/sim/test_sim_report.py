"""Report outputs on literal results: the table's columns, results.json's breakdowns, the per-job CSV, the plots."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from cpnet.core.energy import EnergySignals, Series, SiteEnergy
from cpnet.core.model import Site, Tenant, Tier
from cpnet.sim.metrics import compute_metrics, job_energy
from cpnet.sim.records import JobOutcome, JobRecord, PlacementChange, RunInterval, SimulationResult, UtilizationSeries
from cpnet.sim.report import comparison_table, placements_text, results_document, write_job_csv, write_outputs

EAST = Site("east-dc", Tier.CLOUD, "east", 31.2, 121.5, {"A100": 8}, pue=1.3, price_usd_per_kwh=0.12, carbon_g_per_kwh=550)
WEST = Site("west-dc", Tier.CLOUD, "west", 38.5, 106.3, {"A100": 8}, pue=1.2, price_usd_per_kwh=0.04, carbon_g_per_kwh=350)
EDGE = Site("east-edge", Tier.EDGE, "east", 31.3, 121.4, {"T4": 4}, pue=1.1, price_usd_per_kwh=0.15, carbon_g_per_kwh=550)
SIGNALS = EnergySignals(sites={"west-dc": SiteEnergy(price_usd_per_kwh=Series((0.0, 3600.0), (0.04, 0.02), "west price"))})


def _records(deadline_s: float | None = None) -> tuple[JobRecord, ...]:
    return (
        JobRecord(
            0, "j0", "a", "ResNet-50", 4, 0.0, JobOutcome.FINISHED, 0.0, 7200.0,
            placements=(PlacementChange(0.0, "east-dc", "A100", 4), PlacementChange(3600.5, "west-dc", "A100", 4)),
            device_s={("east-dc", "A100"): 4 * 3600.5, ("west-dc", "A100"): 4 * 3599.5},
            intervals=(RunInterval(0.0, 3600.5, "east-dc", "A100", 4), RunInterval(3600.5, 7200.0, "west-dc", "A100", 4)),
            data_site="east-dc", data_moved_gb=50.0, data_moved_gb_km=50.0 * 1500, transfer_s=120.0, deadline_s=deadline_s,
        ),
        JobRecord(
            1, "j1", "b", "BERT", 2, 100.0, JobOutcome.FINISHED, 200.0, 1000.0,
            placements=(PlacementChange(200.0, "east-edge", "T4", 2),), device_s={("east-edge", "T4"): 1600.0},
            intervals=(RunInterval(200.0, 1000.0, "east-edge", "T4", 2),), data_site="east-dc",
        ),
        JobRecord(2, "j2", "b", "BERT", 64, 300.0, JobOutcome.INFEASIBLE, reason="no site has 64 devices"),
    )  # fmt: skip


def _result(policy: str = "fifo", deadline_s: float | None = None) -> SimulationResult:
    util = {
        "A100": UtilizationSeries("A100", 16, (0.0, 7200.0), (4, 0)),
        "T4": UtilizationSeries("T4", 4, (0.0, 200.0, 1000.0), (0, 2, 0)),
    }
    return SimulationResult(
        policy=policy, seed=0, round_s=None, records=_records(deadline_s), start_s=0.0, end_s=7200.0, utilization=util,
        sites=(EAST, WEST, EDGE), tenants={"a": Tenant("a"), "b": Tenant("b")}, tdp_w={"A100": 400.0, "T4": 70.0},
        energy=SIGNALS,
    )  # fmt: skip


def _render(table: object, width: int = 160) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(table)
    return console.export_text()


@pytest.mark.parametrize("deadline_s", [None, 5000.0])
def test_table_has_new_columns_and_fits_160(deadline_s: float | None) -> None:
    runs = [(r, compute_metrics(r)) for r in (_result("fifo", deadline_s), _result("gavel-las", deadline_s))]
    text = _render(comparison_table(runs, title="t"))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 160
    assert "avg JCT h" in text  # the CLI test looks for it on one line
    for header in ("busy", "util", "energy", "kWh", "cost", "USD", "kgCO2", "data", "GB", "Jain"):
        assert header in "".join(line for line in lines if "┃" in line), header  # two-line headers
    assert ("deadline" in text) is (deadline_s is not None)
    m = runs[0][1]
    rows = [line for line in lines if "│" in line]
    assert len(rows) == 2, text  # one line per policy: no cell wrapped
    row = rows[0]
    for cell in (f"{m.carbon_kg:,.1f}", f"{m.cost_usd:,.2f}", f"{m.data_moved_gb:,.1f}", f"{m.utilization_busy_window:.1%}"):
        assert cell in row, (cell, row)
    if deadline_s is not None:
        assert "1/1" in row  # j0 finished at 7200, after 5000


def test_table_keeps_wide_values_on_one_line() -> None:
    r = _result("gavel-maxmin", deadline_s=5000.0)
    m = replace(
        compute_metrics(r), jobs=1000, jobs_finished=998, jobs_infeasible=2, p99_jct_s=1234.56 * 3600, makespan_s=4321.0 * 3600,
        energy_kwh=123_456.7, cost_usd=12_345.67, carbon_kg=61_728.4, data_moved_gb=12_345.6, jobs_with_deadline=456, deadline_misses=123,
    )  # fmt: skip
    lines = _render(comparison_table([(r, m)])).splitlines()
    assert max(len(line) for line in lines) <= 160
    rows = [line for line in lines if "│" in line]
    assert len(rows) == 1, "\n".join(lines)
    for cell in ("gavel-maxmin", "998/1000 (2 infeas.)", "1235", "4321", "123,457", "12,346", "61,728", "12,346", "123/456"):
        assert cell in rows[0], (cell, rows[0])


def test_results_document_has_breakdowns_and_is_strict_json() -> None:
    r = _result()
    doc = json.loads(json.dumps(results_document({"scenario": "s"}, [(r, compute_metrics(r))]), allow_nan=False))
    m = doc["runs"][0]["metrics"]
    assert list(m["by_site"]) == ["east-dc", "east-edge", "west-dc"]
    assert set(m["by_tier"]) == {"cloud", "edge"} and set(m["by_region"]) == {"east", "west"}
    assert m["by_site"]["west-dc"]["data_moved_gb"] == 50.0
    assert m["jobs_outside_data_region"] == 1  # j0 ran at west-dc, its data is in the east
    assert m["price_carbon_from"] == "series"
    for key in ("utilization_busy_window", "busy_window_s", "idle_energy_kwh", "data_moved_gb_km", "transfer_s", "deadline_misses"):
        assert key in m


def test_job_csv_names_every_placement_and_its_costs(tmp_path: Path) -> None:
    r = _result(deadline_s=5000.0)
    path = tmp_path / "jobs.csv"
    write_job_csv(path, r)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [row["job_id"] for row in rows] == ["j0", "j1", "j2"]
    j0 = rows[0]
    assert j0["placements"] == "0.0@east-dc/A100 x 4; 3600.5@west-dc/A100 x 4"
    for p in r.records[0].placements:
        assert f"@{p.site}/{p.accelerator} x {p.num_devices}" in j0["placements"]
    assert (j0["first_site"], j0["data_site"], j0["deadline_s"], j0["deadline_missed"]) == ("east-dc", "east-dc", "5000.0", "1")
    assert (float(j0["data_moved_gb"]), float(j0["transfer_s"])) == (50.0, 120.0)
    e = job_energy(r, r.records[0])
    assert (float(j0["energy_kwh"]), float(j0["carbon_kg"]), float(j0["cost_usd"])) == (e.energy_kwh, e.carbon_kg, e.cost_usd)
    assert rows[1]["placements"] == "200.0@east-edge/T4 x 2" and rows[1]["deadline_missed"] == ""
    assert rows[2]["placements"] == "" and rows[2]["first_site"] == "" and float(rows[2]["energy_kwh"]) == 0.0
    # per-job energy sums to the run's total
    m = compute_metrics(r)
    assert sum(float(row["cost_usd"]) for row in rows) == pytest.approx(m.cost_usd)


def test_placements_text_empty_for_a_job_that_never_started() -> None:
    assert placements_text(JobRecord(0, "j", "a", "t", 1, 0.0, JobOutcome.UNFINISHED)) == ""


def test_write_outputs_adds_energy_by_site_plot(tmp_path: Path) -> None:
    runs = [(r, compute_metrics(r)) for r in (_result("fifo"), _result("gavel-las"))]
    written = write_outputs(tmp_path, {"scenario": "s"}, runs)
    png = tmp_path / "energy_by_site.png"
    assert png in written
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_region_table_has_a_row_per_region_and_sums_to_the_totals() -> None:
    from cpnet.catalog import load_catalog, load_throughputs
    from cpnet.scenario import load_scenario
    from cpnet.sim.driver import run_simulation
    from cpnet.sim.metrics import compute_metrics
    from cpnet.sim.report import region_table
    from cpnet.sim.traces import open_trace
    from cpnet.sim.traces.tenancy import assign_tenants

    catalog = load_catalog()
    throughput = load_throughputs(catalog)
    net = load_scenario("east-data-west-compute")
    jobs = list(assign_tenants(open_trace("philly-sample", throughput=throughput, seed=0, limit=150), net.tenants, 0))
    result = run_simulation(scenario=net, jobs=jobs, policy="convergent", throughput=throughput, catalog=catalog)
    m = compute_metrics(result)
    table = region_table([(result, m)])
    assert table is not None and table.row_count == len({s.region for s in net.sites}) == 8
    assert sum(b.energy_kwh for b in m.by_region.values()) == pytest.approx(m.energy_kwh)
    assert sum(b.data_moved_gb for b in m.by_region.values()) == pytest.approx(m.data_moved_gb) and m.data_moved_gb > 0
    single = [(result, replace(m, by_region={"only": next(iter(m.by_region.values()))}))]
    assert region_table(single) is None
