"""`cpnet usage` as sacct (issue 13 item 4), through the real CLI against a real server on SQLite
and PostgreSQL: a [--since, --until) window counts the part of each attempt inside it, pro rata;
rows by job, site, model, UTC day or tenant; energy cost = kWh x the site's price; tenant scoping;
table, --json and --csv; one-line errors. Also --json / --csv on `cpnet scenario` listings.

The attempts are written straight into the store with known times (no job runs), so every sum
below is exact: 2024-03-10, UTC (T0 = 00:00)
  a1  acct-a  job j-usage-a1 #1  site S1  model M1  2 devices  10:00-12:00  2.0 kWh (counter)
  a2  acct-a  job j-usage-a1 #2  site S2  model M2  1 device   23:00-01:00  1.0 kWh  (spans UTC midnight)
  b1  acct-b  job j-usage-b1 #1  site S2  model M1  4 devices  11:00-13:00  4.0 kWh
  c1  acct-c  job j-usage-c1 #1  site S1  model M1  1 device   started an hour ago, running
The window [11:00, 24:00) cuts a1 and a2 in half and holds b1 whole.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from cpnet.control.store import Store
from cpnet.control.store import schema as t
from live_server import CPNET, Server, free_port

H = 3600.0
T0 = 1710028800.0  # 2024-03-10T00:00:00Z
SINCE, UNTIL = T0 + 11 * H, T0 + 24 * H
M1, M2 = "A100", "V100"


@dataclass
class Acct:
    srv: Server
    admin: str
    a: str  # acct-a's token
    b: str
    s1: str  # site ids and their prices (USD/kWh)
    s2: str
    p1: float
    p2: float
    tmp: Path
    c_start: float  # acct-c's running attempt began here


def _seed(store: Store, s1: str, s2: str, c_start: float) -> None:
    rows = [
        dict(
            job_id="j-usage-a1", attempt=1, tenant_id="acct-a", site=s1, accelerator=M1, num_devices=2, start_s=T0 + 10 * H, end_s=T0 + 12 * H, energy_kwh=2.0
        ),
        dict(
            job_id="j-usage-a1", attempt=2, tenant_id="acct-a", site=s2, accelerator=M2, num_devices=1, start_s=T0 + 23 * H, end_s=T0 + 25 * H, energy_kwh=1.0
        ),
        dict(
            job_id="j-usage-b1", attempt=1, tenant_id="acct-b", site=s2, accelerator=M1, num_devices=4, start_s=T0 + 11 * H, end_s=T0 + 13 * H, energy_kwh=4.0
        ),
        dict(job_id="j-usage-c1", attempt=1, tenant_id="acct-c", site=s1, accelerator=M1, num_devices=1, start_s=c_start, end_s=None, energy_kwh=None),
    ]
    with store.engine.begin() as c:
        c.execute(insert(t.attempts), rows)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def acct(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, reachable_tmp: Path) -> Iterator[Acct]:
    data = tmp_path_factory.mktemp(f"usage-{request.param}")
    db = f"sqlite:///{data / 'cpnet.db'}" if request.param == "sqlite" else request.getfixturevalue("pg").create_database(f"usage_{os.getpid()}")
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", db, data, port, job_root=Path(tempfile.mkdtemp(dir=reachable_tmp)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "Asia/Shanghai")  # the server's local day is not the UTC day that by=day counts
        srv.start("--executor", "simulated", "--scenario", "east-data-west-compute")
    try:
        admin, a, b = srv.admin_token(), srv.tenant("acct-a"), srv.tenant("acct-b")
        srv.tenant("acct-c")
        store = Store(db)
        try:
            sites = [r.site for r in store.list_sites()]
            site1 = sites[0]
            site2 = next(s for s in sites if s.price_usd_per_kwh != site1.price_usd_per_kwh)  # so a cost names its site
            c_start = time.time() - H
            _seed(store, site1.id, site2.id, c_start)
        finally:
            store.close()
        yield Acct(srv, admin, a, b, site1.id, site2.id, site1.price_usd_per_kwh, site2.price_usd_per_kwh, data, c_start)
    finally:
        srv.stop()


def _cli(acct: Acct, token: str, *args: str, tz: str = "UTC", columns: int = 160) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CPNET_URL": acct.srv.url, "CPNET_TOKEN": token, "CPNET_CONFIG": str(acct.tmp / "none.yaml"), "TZ": tz, "COLUMNS": str(columns)}
    return subprocess.run([*CPNET, *args], capture_output=True, text=True, env=env, timeout=60)


def _json(acct: Acct, token: str, *args: str, tz: str = "UTC") -> dict[str, Any]:
    out = _cli(acct, token, "usage", *args, "--json", tz=tz)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _by(doc: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in doc["rows"]}


WINDOW = ("--since", str(int(SINCE)), "--until", str(int(UNTIL)))  # Unix seconds


def test_window_cuts_attempts_pro_rata_by_tenant(acct: Acct) -> None:
    doc = _json(acct, acct.admin, *WINDOW, "--by", "tenant")
    assert doc["since_s"] == SINCE and doc["until_s"] == UNTIL and doc["by"] == "tenant"
    rows = _by(doc, "tenant")
    assert set(rows) == {"acct-a", "acct-b"}  # acct-c's attempt runs now, outside the window
    a, b = rows["acct-a"], rows["acct-b"]
    # a1: 1 of its 2 hours x 2 devices; a2: 1 of its 2 hours x 1 device; energy likewise (half of each).
    assert (a["device_s"], a["energy_kwh"], a["attempts"]) == (2 * H + 1 * H, 1.0 + 0.5, 2)
    assert (b["device_s"], b["energy_kwh"], b["attempts"]) == (4 * 2 * H, 4.0, 1)
    assert a["energy_cost_usd"] == pytest.approx(1.0 * acct.p1 + 0.5 * acct.p2, rel=1e-12)
    assert b["energy_cost_usd"] == pytest.approx(4.0 * acct.p2, rel=1e-12)
    assert a["device_s_source"] == "cpnet" and a["energy_source"] == "nvml"
    # the earlier shape, over the same window
    assert doc["tenants"]["acct-a"][M1]["device_s"] == 2 * H and doc["tenants"]["acct-a"][M2]["energy_kwh"] == 0.5


def test_by_model_and_site_with_iso_times(acct: Acct) -> None:
    # 19:00 at +08:00 is 11:00 UTC; a date without an offset is local midnight (TZ=UTC here).
    iso = ("--since", "2024-03-10T19:00:00+08:00", "--until", "2024-03-11")
    models = _by(_json(acct, acct.admin, *iso, "--by", "model"), "model")
    assert {m: (r["device_s"], r["energy_kwh"], r["attempts"]) for m, r in models.items()} == {M1: (2 * H + 8 * H, 5.0, 2), M2: (1 * H, 0.5, 1)}
    sites = _by(_json(acct, acct.admin, *iso, "--by", "site"), "site")
    assert {s: (r["device_s"], r["energy_kwh"]) for s, r in sites.items()} == {acct.s1: (2 * H, 1.0), acct.s2: (1 * H + 8 * H, 4.5)}
    assert sites[acct.s2]["energy_cost_usd"] == pytest.approx(4.5 * acct.p2, rel=1e-12)
    assert sites[acct.s1]["energy_cost_usd"] == pytest.approx(1.0 * acct.p1, rel=1e-12)


def test_by_job_and_by_utc_day_with_local_times(acct: Acct) -> None:
    jobs = _by(_json(acct, acct.admin, *WINDOW, "--by", "job"), "job")
    assert {j: (r["tenant"], r["device_s"], r["attempts"]) for j, r in jobs.items()} == {
        "j-usage-a1": ("acct-a", 3 * H, 2),
        "j-usage-b1": ("acct-b", 8 * H, 1),
    }
    # Local times in Shanghai (+08:00): 2024-03-10T08:00 .. 2024-03-12T08:00 is two whole UTC days.
    days = _by(_json(acct, acct.admin, "--since", "2024-03-10T08:00", "--until", "2024-03-12T08:00", "--by", "day", tz="Asia/Shanghai"), "day")
    # a2 (23:00-01:00 UTC) is split at UTC midnight: half on each day.
    assert {d: (r["device_s"], r["energy_kwh"], r["attempts"]) for d, r in days.items()} == {
        "2024-03-10": (4 * H + 1 * H + 8 * H, 2.0 + 0.5 + 4.0, 3),
        "2024-03-11": (1 * H, 0.5, 1),
    }
    cut = _by(_json(acct, acct.admin, *WINDOW, "--by", "day"), "day")
    assert list(cut) == ["2024-03-10"] and cut["2024-03-10"]["device_s"] == 2 * H + 1 * H + 8 * H


def test_a_running_attempt_counts_until_now_and_relative_times(acct: Acct) -> None:
    doc = _json(acct, acct.admin, "--since", "30m", "--by", "tenant")
    (row,) = doc["rows"]  # only acct-c's running attempt reaches into the last 30 minutes
    assert row["tenant"] == "acct-c" and row["energy_source"] == "estimate"
    assert doc["since_s"] == pytest.approx(doc["as_of_s"] - 1800, abs=5) and doc["until_s"] == doc["as_of_s"]
    assert row["device_s"] == pytest.approx(doc["as_of_s"] - doc["since_s"], abs=1e-6)  # the last 30 minutes of it
    doc = _json(acct, acct.admin, "--since", "2h", "--by", "tenant")
    whole = _by(doc, "tenant")["acct-c"]
    assert whole["device_s"] == pytest.approx(doc["as_of_s"] - acct.c_start, abs=1e-6)  # started an hour ago: all of it


def test_tenant_sees_only_its_own_rows_and_admin_picks_one(acct: Acct) -> None:
    mine = _json(acct, acct.a, *WINDOW, "--by", "job")
    assert [r["job"] for r in mine["rows"]] == ["j-usage-a1"] and set(mine["tenants"]) == {"acct-a"}
    models = _by(_json(acct, acct.b, *WINDOW, "--by", "model"), "model")
    assert set(models) == {M1} and models[M1]["device_s"] == 8 * H  # acct-a's M1 half hour is not in it
    picked = _json(acct, acct.admin, *WINDOW, "--by", "tenant", "--tenant", "acct-b")
    assert [r["tenant"] for r in picked["rows"]] == ["acct-b"]
    other = _cli(acct, acct.a, "usage", *WINDOW, "--tenant", "acct-b")
    assert other.returncode == 2 and other.stdout == ""
    assert other.stderr.count("\n") == 1 and "acct-b" in other.stderr and "own tenant" in other.stderr, other.stderr


def test_default_call_keeps_the_earlier_answer(acct: Acct) -> None:
    doc = acct.srv.client(acct.a).get("/v1/usage").json()
    # every attempt whole, tenant -> model -> cell
    assert doc["tenants"]["acct-a"][M1]["device_s"] == 4 * H and doc["tenants"]["acct-a"][M1]["energy_kwh"] == 2.0
    assert doc["tenants"]["acct-a"][M2]["device_s"] == 2 * H
    assert {"as_of_s", "energy_unknown_for"} <= set(doc) and doc["since_s"] is None and doc["by"] == "model"


def test_csv_has_a_header_and_one_line_per_row_unformatted(acct: Acct) -> None:
    out = _cli(acct, acct.admin, "usage", *WINDOW, "--by", "model", "--csv")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "model,attempts,device_s,device_s_source,energy_kwh,energy_source,energy_cost_usd"
    assert len(lines) == 1 + 2
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(out.stdout))}
    assert rows[M1]["device_s"] == "36000.0" and rows[M1]["attempts"] == "2"  # no thousands separator, no rounding
    assert float(rows[M2]["energy_cost_usd"]) == pytest.approx(0.5 * acct.p2, rel=1e-12)
    jobs = _cli(acct, acct.admin, "usage", *WINDOW, "--by", "job", "--csv").stdout.splitlines()
    assert jobs[0].startswith("job,tenant,attempts,") and len(jobs) == 3


def test_table_fits_80_columns(acct: Acct) -> None:
    for by, expect in (("job", "acct-b"), ("model", "36,000"), ("day", "2024-03-10")):
        out = _cli(acct, acct.admin, "usage", *WINDOW, "--by", by, columns=80)
        assert out.returncode == 0, out.stderr
        assert all(len(line) <= 80 for line in out.stdout.splitlines()), out.stdout
        assert expect in out.stdout and "energy cost only" in out.stdout, out.stdout
        assert "device-seconds from cpnet's clock; energy from NVML counters" in out.stdout, out.stdout  # the rows' one source pair
        if by == "job":  # whole on one line: job id, tenant, attempts, device-s
            assert any(line.split()[:4] == ["j-usage-a1", "acct-a", "2", "10,800"] for line in out.stdout.splitlines() if line.strip()), out.stdout
    empty = _cli(acct, acct.admin, "usage", "--since", "2000-01-01", "--until", "2000-01-02")
    assert empty.returncode == 0 and "no usage in this window" in empty.stdout


@pytest.mark.parametrize("value", ["yesterday", "2 hours", "-5", "2024-13-01", "1y"])
def test_bad_since_is_one_line_naming_the_forms(value: str, tmp_path: Path) -> None:
    # refused before any request: the URL is a port nothing listens on
    env = {**os.environ, "CPNET_URL": f"http://127.0.0.1:{free_port()}", "CPNET_TOKEN": "cpt_x", "CPNET_CONFIG": str(tmp_path / "none.yaml")}
    out = subprocess.run([*CPNET, "usage", "--since", value], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1, out.stderr
    assert f"--since '{value}'" in out.stderr and "2h" in out.stderr and "ISO" in out.stderr and "Unix seconds" in out.stderr, out.stderr


def test_other_usage_errors_are_one_line(acct: Acct) -> None:
    backwards = _cli(acct, acct.a, "usage", "--since", str(int(UNTIL)), "--until", str(int(SINCE)))
    assert backwards.returncode == 2 and backwards.stderr.count("\n") == 1 and "must be before until" in backwards.stderr, backwards.stderr
    both = _cli(acct, acct.a, "usage", "--json", "--csv")
    assert both.returncode == 2 and "one of --json and --csv" in both.stderr and both.stdout == ""
    bad_until = _cli(acct, acct.a, "usage", "--until", "soon")
    assert bad_until.returncode == 2 and "--until 'soon'" in bad_until.stderr


# -- cpnet scenario ----------------------------------------------------------------------------------


def _scenario(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CPNET, "scenario", *args], capture_output=True, text=True, timeout=60)


def test_scenario_list_json_and_csv() -> None:
    from cpnet.scenario import scenario_names

    listed = json.loads(_scenario("list", "--json").stdout)
    assert [s["name"] for s in listed] == list(scenario_names())
    edwc = next(s for s in listed if s["name"] == "east-data-west-compute")
    assert edwc["sites"] == 16 and isinstance(edwc["devices"], int) and edwc["devices"] > 100
    out = _scenario("list", "--csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert out.stdout.splitlines()[0] == "name,default,sites,devices,description" and len(rows) == len(listed)
    assert next(r for r in rows if r["name"] == "east-data-west-compute")["devices"] == str(edwc["devices"])  # no thousands separator
    assert sum(r["default"] == "True" for r in rows) == 1


def test_scenario_show_json_and_csv() -> None:
    doc = json.loads(_scenario("show", "east-data-west-compute", "--json").stdout)
    assert doc["name"] == "east-data-west-compute" and len(doc["sites"]) == 16 and doc["tenants"]
    site = doc["sites"][0]
    assert {"id", "tier", "pue", "price_usd_per_kwh", "carbon_g_per_kwh", "inventory"} <= set(site) and isinstance(site["inventory"], dict)
    assert all({"a", "b", "latency_ms", "bandwidth_gbps"} <= set(link) for link in doc["links"])
    out = _scenario("show", "east-data-west-compute", "--csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 16 and rows[0]["id"] == site["id"] and float(rows[0]["price_usd_per_kwh"]) == site["price_usd_per_kwh"]
    assert json.loads(rows[0]["inventory"]) == site["inventory"]
    both = _scenario("list", "--json", "--csv")
    assert both.returncode == 2 and both.stderr.count("\n") == 1
