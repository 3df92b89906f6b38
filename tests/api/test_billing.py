"""Invoices and budgets from the usage ledger (issue 12 item 3, issue 10 item 5), through a real
`cpnet serve` and the real CLI on SQLite and PostgreSQL.

Ledger records are appended with known times and amounts (the store's own `append`, so they chain
as billed runs do): tenant bill-a has two records in October 2026 (one a second before November),
three in November at two sites and models, one at 2026-12-01 00:00:00 UTC exactly (December's);
bill-b has one in November. A budget test appends a record billed now.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cpnet.control.store import Store
from cpnet.control.store.ledger import UsageRecord, append
from live_server import CPNET, Server, free_port, wait_for

NOV = 1793491200.0  # 2026-11-01T00:00:00Z
DEC = 1796083200.0  # 2026-12-01T00:00:00Z
H = 3600.0


def _rec(tenant: str, ref: str, t_s: float, site: str, model: str, device_s: float, amount: float, cu: float | None = None) -> UsageRecord:
    return UsageRecord(
        t_s,
        tenant,
        "attempt",
        ref,
        1,
        site,
        model,
        1,
        t_s - device_s,
        t_s,
        device_s,
        cu,
        device_s / 3600 * 0.3,
        "estimated",
        0.1,
        "t-1",
        amount - 0.05,
        0.04,
        0.01,
        amount,
    )


SEED = [
    _rec("bill-a", "j-oct1", NOV - 10 * 86400, "s1", "V100", H, 3.0, 3600.0),
    _rec("bill-a", "j-oct2", NOV - 1, "s1", "V100", H, 3.0, 3600.0),  # the last second of October
    _rec("bill-a", "j-nov1", NOV + 2 * 86400, "s1", "V100", 2 * H, 6.12, 7200.0),
    _rec("bill-a", "j-nov2", NOV + 2 * 86400 + 60, "s1", "V100", 0.5 * H, 1.53, 1800.0),
    _rec("bill-a", "j-nov3", NOV + 20 * 86400, "s2", "A100", 3 * H, 12.29, None),  # no CU rate: counted 0 CU
    _rec("bill-b", "j-b1", NOV + 5 * 86400, "s2", "A100", H, 4.1, 14400.0),
    _rec("bill-a", "j-dec1", DEC, "s1", "V100", H, 3.06, 3600.0),  # midnight: December's
]
NOV_A = SEED[2:5]


@dataclass
class Bill:
    srv: Server
    admin: str
    a: str
    b: str
    c: str
    tmp: Path


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def bill(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, reachable_tmp: Path) -> Iterator[Bill]:
    data = tmp_path_factory.mktemp(f"billing-{request.param}")
    db = f"sqlite:///{data / 'cpnet.db'}" if request.param == "sqlite" else request.getfixturevalue("pg").create_database(f"billing_{os.getpid()}")
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", db, data, port, job_root=Path(tempfile.mkdtemp(dir=reachable_tmp)))
    srv.start("--executor", "simulated", "--scenario", "east-data-west-compute")
    try:
        admin, a, b, c = srv.admin_token(), srv.tenant("bill-a"), srv.tenant("bill-b"), srv.tenant("bill-c")
        store = Store(db)
        try:
            with store.engine.begin() as conn:
                append(conn, SEED)
        finally:
            store.close()
        yield Bill(srv, admin, a, b, c, data)
    finally:
        srv.stop()


def _cli(bill: Bill, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CPNET_URL": bill.srv.url, "CPNET_TOKEN": token, "CPNET_CONFIG": str(bill.tmp / "none.yaml"), "COLUMNS": "160"}
    return subprocess.run([*CPNET, *args], capture_output=True, text=True, env=env, timeout=60)


def _invoice(bill: Bill, token: str, *args: str) -> dict[str, Any]:
    out = _cli(bill, token, "invoice", *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_invoice_totals_are_the_ledgers_and_months_end_at_utc_midnight(bill: Bill) -> None:
    doc = _invoice(bill, bill.a, "--period", "2026-11")
    assert (doc["tenant"], doc["period"], doc["start_s"], doc["end_s"], doc["runs"]) == ("bill-a", "2026-11", NOV, DEC, 3)
    store = Store(bill.srv.db)
    try:
        ledger = store.ledger_records("bill-a", NOV, DEC)
    finally:
        store.close()
    assert [r["ref"] for r in ledger] == ["j-nov1", "j-nov2", "j-nov3"]  # not the last second of October, not December's midnight
    for key in ("amount_usd", "compute_usd", "energy_usd", "carbon_usd", "energy_kwh", "kg_co2", "device_s"):
        assert doc["totals"][key] == math.fsum(r[key] for r in ledger), key
    assert doc["totals"]["cu"] == 7200.0 + 1800.0 and doc["totals"]["device_h"] == 5.5
    lines = {(ln["site"], ln["accelerator"]): ln for ln in doc["lines"]}
    assert set(lines) == {("s1", "V100"), ("s2", "A100")}
    assert lines["s1", "V100"]["runs"] == 2 and lines["s1", "V100"]["amount_usd"] == 6.12 + 1.53
    assert lines["s2", "A100"]["cu_unknown_runs"] == 1 and lines["s2", "A100"]["tariffs"] == ["t-1"]
    assert [d["day"] for d in doc["days"]] == ["2026-11-03", "2026-11-21"]
    assert doc["provisional"] is False  # the month is over
    assert _invoice(bill, bill.a, "--period", "2026-12")["runs"] == 1
    assert _invoice(bill, bill.a, "--period", "2026-10")["totals"]["amount_usd"] == 6.0


def test_a_tenant_sees_only_its_own_invoices(bill: Bill) -> None:
    mine = _invoice(bill, bill.b, "--period", "2026-11")
    assert mine["tenant"] == "bill-b" and [ln["amount_usd"] for ln in mine["lines"]] == [4.1]
    other = _cli(bill, bill.b, "invoice", "--period", "2026-11", "--tenant", "bill-a", "--json")
    assert other.returncode == 2 and "only its own tenant's invoices ('bill-b'), not 'bill-a'" in other.stderr and other.stdout == ""
    assert len(other.stderr.strip().splitlines()) == 1
    with bill.srv.client(bill.b) as c:
        assert c.get("/v1/invoices/2026-11", params={"tenant": "bill-a", "format": "csv"}).status_code == 403
        assert c.get("/v1/invoices", params={"tenant": "bill-a"}).status_code == 403
    # an admin names the tenant
    assert _invoice(bill, bill.admin, "--period", "2026-11", "--tenant", "bill-a")["runs"] == 3
    nameless = _cli(bill, bill.admin, "invoice", "--period", "2026-11")
    assert nameless.returncode == 2 and "names the tenant" in nameless.stderr
    unknown = _cli(bill, bill.admin, "invoice", "--period", "2026-11", "--tenant", "nobody")
    assert unknown.returncode == 2 and "no tenant 'nobody'" in unknown.stderr


def test_months_billed_and_bad_periods(bill: Bill) -> None:
    listing = json.loads(_cli(bill, bill.a, "invoice", "--json").stdout)
    assert [p["period"] for p in listing["periods"]] == ["2026-10", "2026-11", "2026-12"]
    assert json.loads(_cli(bill, bill.c, "invoice", "--json").stdout)["periods"] == []  # never billed
    for bad in ("2026-13", "26-11", "2026-11-01"):
        out = _cli(bill, bill.a, "invoice", "--period", bad)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "YYYY-MM" in out.stderr, out.stderr


def test_csv_html_and_table_carry_the_same_totals(bill: Bill) -> None:
    total = _invoice(bill, bill.a, "--period", "2026-11")["totals"]["amount_usd"]
    out = _cli(bill, bill.a, "invoice", "--period", "2026-11", "--csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["site"] for r in rows] == ["s1", "s2", "total"]
    assert float(rows[-1]["amount_usd"]) == total and int(rows[-1]["runs"]) == 3
    page = bill.tmp / "nov.html"
    out = _cli(bill, bill.a, "invoice", "--period", "2026-11", "--html", "--out", str(page))
    assert out.returncode == 0, out.stderr
    html = page.read_text()
    assert "<svg" in html and "tenant bill-a, 2026-11" in html and f"${total:,.2f}" in html
    table = _cli(bill, bill.a, "invoice", "--period", "2026-11")
    assert table.returncode == 0 and f"${total:,.2f}" in table.stdout and "s2" in table.stdout, table.stdout


def _job(c: Any, job_id: str) -> dict[str, Any]:
    return c.get(f"/v1/jobs/{job_id}").json()  # type: ignore[no-any-return]


def test_a_spent_budget_holds_new_jobs_until_it_is_raised(bill: Bill) -> None:
    now = time.time()
    store = Store(bill.srv.db)
    try:
        with store.engine.begin() as conn:
            append(conn, [_rec("bill-c", "j-c-spent", now, "s1", "V100", H, 5.0, 3600.0)])
    finally:
        store.close()
    set_budget = [*CPNET, "admin", "set-budget", "bill-c", "--db", bill.srv.db]
    done = subprocess.run([*set_budget, "--amount", "5", "--unit", "usd", "--period", "month"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "budget $5.00 per month" in done.stdout, done.stderr
    with bill.srv.client(bill.c) as c, bill.srv.client(bill.b) as cb:
        time.sleep(5.5)  # the server re-reads budgets every 5 s
        held = c.post("/v1/jobs", json={"command": ["train"], "total_steps": 100}).json()["id"]
        free = cb.post("/v1/jobs", json={"command": ["train"], "total_steps": 100}).json()["id"]  # bill-b has no budget
        wait_for(lambda: _job(cb, free)["state"] != "pending", "the job of a tenant without a budget was not admitted")
        job = wait_for(lambda: (j := _job(c, held))["reason"] and j, "no wait reason for the held job")
        assert job["state"] == "pending"
        assert job["reason"].startswith("budget: tenant bill-c used $5.00 of $5.00 this month (resets ")
        events = c.get(f"/v1/jobs/{held}/events").json()["events"]
        assert any(e["message"].startswith("not admitted: budget: tenant bill-c") for e in events), events
        shown = _cli(bill, bill.c, "job", "show", held)
        assert "budget: tenant bill-c used $5.00 of $5.00" in shown.stdout, shown.stdout
        bad = subprocess.run([*set_budget, "--amount", "-1"], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and "expected a number > 0" in bad.stderr
        raised = subprocess.run([*set_budget, "--amount", "50"], capture_output=True, text=True, timeout=60)
        assert raised.returncode == 0, raised.stderr
        wait_for(lambda: _job(c, held)["state"] != "pending", "raising the budget did not admit the job", timeout_s=20)
        cleared = subprocess.run([*set_budget, "--clear"], capture_output=True, text=True, timeout=60)
        assert cleared.returncode == 0 and "no budget" in cleared.stdout
        for client, job_id in ((c, held), (cb, free)):  # nothing of this test holds devices after it
            client.post(f"/v1/jobs/{job_id}/cancel")


def test_pending_jobs_show_their_place_in_the_networks_and_their_tenants_queue(bill: Bill) -> None:
    """Eight MI300X in the network: two 4-device jobs run, the rest wait in submission order."""
    body = {"command": ["train"], "total_steps": 1e12, "accelerator": "MI300X", "devices": 4}
    with bill.srv.client(bill.admin) as admin:  # the network's MI300X are free (no other test's job holds one)
        wait_for(
            lambda: (
                not [
                    j
                    for j in admin.get("/v1/jobs", params={"state": ["running", "scheduled"]}).json()["jobs"]
                    if (j["placement"] or {}).get("accelerator") == "MI300X"
                ]
            ),
            "MI300X still busy",
            60,
        )
    with bill.srv.client(bill.a) as ca, bill.srv.client(bill.b) as cb:
        order = [("a", ca), ("b", cb), ("a", ca), ("b", cb), ("a", ca)]
        ids = [(who, c, c.post("/v1/jobs", json=body).json()["id"]) for who, c in order]
        try:
            wait_for(lambda: sum(_job(c, j)["state"] == "running" for _, c, j in ids) == 2, "two jobs did not start", 60)
            pending = [(who, c, j) for who, c, j in ids if _job(c, j)["state"] == "pending"]
            assert [who for who, _, _ in pending] == ["a", "b", "a"]
            places = [(_job(c, j)["position"], _job(c, j)["tenant_position"]) for _, c, j in pending]
            assert places == [(1, 1), (2, 1), (3, 2)]
            listed = {j["id"]: j for j in ca.get("/v1/jobs", params={"state": "pending"}).json()["jobs"]}
            assert [(listed[j]["position"], listed[j]["tenant_position"]) for who, _, j in pending if who == "a"] == [(1, 1), (3, 2)]
            shown = _cli(bill, bill.a, "job", "show", pending[2][2])
            assert "queue: #3 in the network, #2 of tenant bill-a's" in shown.stdout, shown.stdout
            assert _job(ca, ids[0][2])["position"] is None  # a running job has no place in the queue
        finally:
            for _, c, j in ids:
                c.post(f"/v1/jobs/{j}/cancel")
