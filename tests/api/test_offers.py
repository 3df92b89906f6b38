"""`cpnet offers` through the real CLI against a real `cpnet serve` (east-data-west-compute scenario,
simulated executor, SQLite): filters, sort orders, free devices going down while a job runs, RTT
from a region or site over the links, --json and --csv, the one-line errors, and 80 columns."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cpnet.catalog import load_catalog
from cpnet.catalog.compute_units import cu_rate
from cpnet.core.paths import Paths
from cpnet.scenario import load_scenario
from live_server import CPNET, Server, free_port

SCENARIO = "east-data-west-compute"
NET = load_scenario(SCENARIO)
CATALOG = load_catalog()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("offers")
    port = free_port()
    s = Server(f"http://127.0.0.1:{port}", f"sqlite:///{data / 'cpnet.db'}", data, port)
    s.start("--scenario", SCENARIO, "--executor", "simulated")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def token(srv: Server) -> str:
    return srv.tenant("offers")


def _cli(srv: Server, token: str, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CPNET_URL": srv.url, "CPNET_TOKEN": token, "CPNET_CONFIG": str(srv.data_dir / "none.yaml"), "COLUMNS": str(columns)}
    return subprocess.run([*CPNET, "offers", *args], capture_output=True, text=True, env=env, timeout=60)


def _offers(srv: Server, token: str, *args: str) -> list[dict[str, Any]]:
    out = _cli(srv, token, *args, "--json")
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout)["offers"])


def _ordered(values: list[float | None], descending: bool = False) -> bool:
    known = [v for v in values if v is not None]
    n = len(known)
    return values[:n] == known and known == sorted(known, reverse=descending)  # unknown values last


def test_every_pool_is_offered_with_its_numbers(srv: Server, token: str) -> None:
    offers = _offers(srv, token)
    pools = {(s.id, m): (s, n) for s in NET.sites for m, n in s.inventory.items()}
    got = {(o["site"], o["accelerator"]): o for o in offers}
    assert set(pools) <= set(got)  # and the executor's own pool, "local"
    with srv.client(token) as c:
        network = {s["id"]: s for s in c.get("/v1/dashboard/network").json()["sites"]}
    site, n = pools[("hub-zhangjiakou", "A100")]
    o = got[("hub-zhangjiakou", "A100")]
    assert o["tier"] == "cloud" and o["region"] == site.region and o["total"] == n
    assert o["price_usd_per_kwh"] == pytest.approx(network[site.id]["price_usd_per_kwh"])  # the network's price now
    assert o["carbon_g_per_kwh"] == pytest.approx(network[site.id]["carbon_g_per_kwh"])
    tdp = CATALOG["A100"].tdp_w
    assert tdp is not None
    assert o["energy_usd_per_device_hour"] == pytest.approx(tdp / 1000 * site.pue * o["price_usd_per_kwh"])
    assert o["cu_rate"] == pytest.approx(cu_rate("A100")) and o["rtt_ms"] is None
    assert got[("local", "CPU")]["cu_rate"] is None and got[("local", "CPU")]["energy_usd_per_device_hour"] is None  # not in the catalog: unknown


def test_filters_and_sort_orders(srv: Server, token: str) -> None:
    a100 = _offers(srv, token, "--accelerator", "A100")
    assert {o["accelerator"] for o in a100} == {"A100"}
    assert {o["site"] for o in a100} == {s.id for s in NET.sites if "A100" in s.inventory}
    big = _offers(srv, token, "--min-devices", "17")
    assert big and all(o["free"] >= 17 for o in big)
    assert ("hub-horinger", "A800") in {(o["site"], o["accelerator"]) for o in big}  # 32 free
    assert ("hub-horinger", "V100") not in {(o["site"], o["accelerator"]) for o in big}  # 16

    by_price = _offers(srv, token)  # the default: energy price of a device-hour, lowest first
    assert _ordered([o["energy_usd_per_device_hour"] for o in by_price]) and by_price[0]["energy_usd_per_device_hour"] is not None
    assert _ordered([o["carbon_g_per_kwh"] for o in _offers(srv, token, "--sort", "carbon")])
    assert _ordered([o["free"] for o in _offers(srv, token, "--sort", "free")], descending=True)
    by_cu = _offers(srv, token, "--sort", "cu")
    assert _ordered([o["cu_rate"] for o in by_cu], descending=True) and by_cu[-1]["cu_rate"] is None
    assert by_cu[0]["accelerator"] == "MI300X"  # the fastest model in the scenario
    assert _ordered([o["rtt_ms"] for o in _offers(srv, token, "--sort", "latency", "--from", "Gansu")])


def test_free_goes_down_while_a_job_runs(srv: Server, token: str) -> None:
    def free() -> int:
        return int(next(o["free"] for o in _offers(srv, token, "-a", "A800") if o["site"] == "hub-horinger"))

    assert free() == 32
    with srv.client(token) as c:
        r = c.post("/v1/jobs", json={"command": ["x"], "accelerator": "A800", "devices": 4, "sites": ["hub-horinger"], "total_steps": 1e9})
        assert r.status_code == 201, r.text
        job = r.json()["id"]
        deadline = time.monotonic() + 30
        while (now := free()) != 28:
            assert now == 32 and time.monotonic() < deadline, f"free A800 at hub-horinger: {now}"
            time.sleep(0.2)
        assert not any(o["site"] == "hub-horinger" and o["accelerator"] == "A800" for o in _offers(srv, token, "-n", "29"))
        c.post(f"/v1/jobs/{job}/cancel").raise_for_status()
        deadline = time.monotonic() + 30
        while free() != 32:
            assert time.monotonic() < deadline, "the cancelled job's devices were not freed"
            time.sleep(0.2)


def test_rtt_from_a_site_or_a_region(srv: Server, token: str) -> None:
    rtt = {(o["site"], o["accelerator"]): o["rtt_ms"] for o in _offers(srv, token, "--from", "dev-beijing-vehicles", "--sort", "latency")}
    by_site = {site: v for (site, _m), v in rtt.items()}
    links = NET.network_links()  # declared and distance-derived: the server's network
    paths = Paths.build([s.id for s in NET.sites], links)
    assert by_site["dev-beijing-vehicles"] == 0.0
    for site in NET.sites:
        assert by_site[site.id] == pytest.approx(paths.latency("dev-beijing-vehicles", site.id)), site.id
    # further away, longer: the region's hub, a hub in the west, one in the south, a device pool at the other end of the country
    assert 0.0 < by_site["hub-zhangjiakou"] < by_site["hub-qingyang"] < by_site["hub-shaoguan"] < by_site["dev-shenzhen-vehicles"]
    direct = min(lk.latency_ms for lk in links if {lk.a, lk.b} == {"dev-beijing-vehicles", "edge-beijing"})
    assert by_site["edge-beijing"] <= direct
    assert by_site["local"] is None  # no link reaches the executor's own pool
    region = {o["site"]: o["rtt_ms"] for o in _offers(srv, token, "--from", "Yangtze River Delta")}
    delta = [s.id for s in NET.sites if s.region == "Yangtze River Delta"]
    assert all(region[s] == 0.0 for s in delta)
    assert region["hub-guian"] == pytest.approx(min(paths.latency(s, "hub-guian") for s in delta)) and region["hub-guian"] > 0  # from the region's nearest site


def test_json_and_csv_parse_to_the_same_offers(srv: Server, token: str) -> None:
    out = _cli(srv, token, "--from", "Gansu", "--json")
    answer = json.loads(out.stdout)
    assert answer["sort"] == "price" and answer["from"] == "Gansu" and answer["cu_reference"] == "V100" and "energy only" in answer["price_note"]
    rows = list(csv.DictReader(io.StringIO(_cli(srv, token, "--from", "Gansu", "--csv").stdout)))
    assert [(r["site"], r["accelerator"]) for r in rows] == [(o["site"], o["accelerator"]) for o in answer["offers"]]
    first = rows[0]
    assert float(first["energy_usd_per_device_hour"]) == pytest.approx(answer["offers"][0]["energy_usd_per_device_hour"])
    assert int(first["free"]) == answer["offers"][0]["free"] and first["rtt_ms"] != ""
    local = next(r for r in rows if r["site"] == "local")
    assert local["cu_rate"] == "" and local["rtt_ms"] == ""  # unknown: empty cells


@pytest.mark.parametrize(
    ("args", "says", "names"),
    [
        (["--accelerator", "H1000"], "unknown accelerator 'H1000'", ["A100", "Ascend-910B"]),
        (["--from", "Mars"], "unknown region or site 'Mars'", ["Gansu", "hub-qingyang"]),
        (["--sort", "latency"], "sort=latency needs from=REGION", []),
    ],
)
def test_unknown_names_are_one_line_errors(srv: Server, token: str, args: list[str], says: str, names: list[str]) -> None:
    out = _cli(srv, token, *args)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and says in out.stderr, out.stderr
    assert all(n in out.stderr for n in names), out.stderr


def test_table_fits_80_columns_and_wider_terminals_get_a_flat_table(srv: Server, token: str) -> None:
    offers = _offers(srv, token, "--from", "Gansu")
    narrow = _cli(srv, token, "--from", "Gansu")
    assert narrow.returncode == 0, narrow.stderr
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, narrow.stdout
    assert "…" not in narrow.stdout  # nothing cut
    rows = [line.split() for line in lines if line.split() and line.split()[0] in {o["site"] for o in offers}]
    assert [(r[0], r[1].rstrip("*")) for r in rows] == [(o["site"], o["accelerator"]) for o in offers]  # one row per offer, in order
    first = rows[0]
    assert first[-1] == f"{offers[0]['rtt_ms']:.1f}" and first[2] == f"{offers[0]['free']}/{offers[0]['total']}"
    wide = _cli(srv, token, "--from", "Gansu", columns=160).stdout
    top = next(line for line in wide.splitlines() if line.startswith(offers[0]["site"] + " "))
    assert offers[0]["region"] in top and offers[0]["tier"] in top  # one line holds site, tier and region
    empty = _cli(srv, token, "-a", "H100")
    assert empty.returncode == 0 and "no offers of H100" in empty.stdout


def test_server_log_is_clean(srv: Server) -> None:
    assert "Traceback" not in (Path(srv.data_dir) / "server.log").read_text()


def test_any_token_but_not_none(srv: Server, token: str) -> None:
    with srv.client(None) as c:
        assert c.get("/v1/offers").status_code == 401
    with srv.client(srv.admin_token()) as c:
        assert c.get("/v1/offers", params={"accelerator": "A100"}).json()["offers"]  # an admin token too
