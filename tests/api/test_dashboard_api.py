"""The dashboard's endpoints against a real `cpnet serve` (east-data-west-compute scenario, simulated
executor) over SQLite and PostgreSQL: the network now, the queue's order and scoping, attempts,
tenants' usage and energy over time; and the page's files served without a token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cpnet.scenario import load_scenario
from live_server import Server, wait_for

SCENARIO = "east-data-west-compute"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from live_server import database_for, free_port

    data = tmp_path_factory.mktemp(f"dash-{request.param}")
    port = free_port()
    s = Server(f"http://127.0.0.1:{port}", database_for(request, request.param, data), data, port)
    s.start("--scenario", SCENARIO, "--executor", "simulated")
    yield s
    s.stop()


def get(srv: Server, token: str | None, path: str, **params: Any) -> httpx.Response:
    with srv.client(token) as c:
        return c.get(path, params=params)


def submit(srv: Server, token: str, key: str, **spec: Any) -> str:
    with srv.client(token) as c:
        r = c.post("/v1/jobs", json={"command": ["train"], "idempotency_key": key, **spec})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def test_network_shows_the_scenario_and_what_is_busy_now(srv: Server) -> None:
    token = srv.tenant("net-a")
    scenario = load_scenario(SCENARIO)
    before = {s["id"]: s for s in get(srv, token, "/v1/dashboard/network").json()["sites"]}
    assert set(before) >= {s.id for s in scenario.sites}  # and the executor's own pool, "local"
    site = scenario.sites[0]
    assert before[site.id]["lat"] == site.lat and before[site.id]["tier"] == site.tier.value
    assert before[site.id]["inventory"] == dict(site.inventory)
    links = get(srv, token, "/v1/dashboard/network").json()["links"]
    assert links and all(lk["a"] in before and lk["b"] in before and lk["latency_ms"] > 0 for lk in links)

    model = max(site.inventory.items(), key=lambda kv: kv[1])[0]
    job = submit(srv, token, "net-1", accelerator=model, devices=1, sites=[site.id], total_steps=1e9)

    def busy() -> Any:
        now = {s["id"]: s for s in get(srv, token, "/v1/dashboard/network").json()["sites"]}
        return now if now[site.id]["busy"][model] == 1 else None

    now = wait_for(busy, "the job's device never showed busy")
    assert now[site.id]["power_kw"] > before[site.id]["power_kw"]  # a busy device draws more than an idle one
    with srv.client(token) as c:
        c.post(f"/v1/jobs/{job}/cancel").raise_for_status()


def test_queue_orders_active_pending_ended_and_counts(srv: Server) -> None:
    token = srv.tenant("queue-a")
    site = load_scenario(SCENARIO).sites[0]
    model, n = max(site.inventory.items(), key=lambda kv: kv[1])
    # one gang that takes the whole pool, a short job that ends, then two that must wait for the pool
    hog = submit(srv, token, "q-hog", accelerator=model, devices=n, sites=[site.id], total_steps=1e9)
    wait_for(lambda: get(srv, token, f"/v1/jobs/{hog}").json()["state"] == "running", "the first job never ran")
    done = submit(srv, token, "q-done", total_steps=1)
    wait_for(lambda: get(srv, token, f"/v1/jobs/{done}").json()["state"] == "succeeded", "the short job never finished")
    waiting = [submit(srv, token, f"q-wait{i}", accelerator=model, devices=n, sites=[site.id]) for i in range(2)]

    page = get(srv, token, "/v1/dashboard/queue").json()
    ids = [j["id"] for j in page["jobs"]]
    assert ids.index(hog) < ids.index(waiting[0]) < ids.index(waiting[1]) < ids.index(done)
    by_id = {j["id"]: j for j in page["jobs"]}
    first, second = by_id[waiting[0]]["position"], by_id[waiting[1]]["position"]
    assert first is not None and second == first + 1  # queue order, network-wide
    assert by_id[hog]["position"] is None and by_id[hog]["placement"]["site"] == site.id
    assert by_id[done]["exit_code"] == 0 and by_id[hog]["command"] == ["train"]
    assert page["counts"]["running"] >= 1 and page["counts"]["pending"] >= 2
    assert page["total"] == sum(page["counts"].values()) == 4

    pending = get(srv, token, "/v1/dashboard/queue", state="pending").json()
    assert [j["id"] for j in pending["jobs"]] == waiting and pending["total"] == 2
    there = get(srv, token, "/v1/dashboard/queue", site=site.id).json()
    assert {j["id"] for j in there["jobs"]} == {hog} | ({done} if by_id[done]["placement"]["site"] == site.id else set())
    second_page = get(srv, token, "/v1/dashboard/queue", offset=1, limit=2).json()
    assert [j["id"] for j in second_page["jobs"]] == ids[1:3]
    with srv.client(token) as c:
        for j in (hog, *waiting):
            c.post(f"/v1/jobs/{j}/cancel").raise_for_status()


def test_a_tenant_sees_only_itself(srv: Server) -> None:
    a, b = srv.tenant("scope-a"), srv.tenant("scope-b")
    job = submit(srv, a, "scope-1", total_steps=1)
    wait_for(lambda: get(srv, a, f"/v1/jobs/{job}").json()["state"] == "succeeded", "the job never finished")
    assert job not in [j["id"] for j in get(srv, b, "/v1/dashboard/queue").json()["jobs"]]
    for path in ("/v1/dashboard/queue", "/v1/dashboard/energy"):
        r = get(srv, b, path, tenant="scope-a")
        assert r.status_code == 403 and "scope-b" in r.json()["error"]
    assert [t["id"] for t in get(srv, b, "/v1/dashboard/tenants").json()["tenants"]] == ["scope-b"]
    assert get(srv, b, "/v1/dashboard/energy").json()["sites"] == []  # b has run nothing
    assert get(srv, b, f"/v1/jobs/{job}/attempts").status_code == 404
    admin = srv.admin_token()
    assert {"scope-a", "scope-b"} <= {t["id"] for t in get(srv, admin, "/v1/dashboard/tenants").json()["tenants"]}
    assert job in [j["id"] for j in get(srv, admin, "/v1/dashboard/queue", tenant="scope-a").json()["jobs"]]
    assert get(srv, None, "/v1/dashboard/network").status_code == 401


def test_attempts_tenants_and_energy_add_up(srv: Server) -> None:
    token = srv.tenant("usage-a")
    jobs = [submit(srv, token, f"u{i}", total_steps=2, devices=1) for i in range(3)]
    for j in jobs:
        wait_for(lambda: get(srv, token, f"/v1/jobs/{j}").json()["state"] == "succeeded", f"{j} never finished")
    attempts = [a for j in jobs for a in get(srv, token, f"/v1/jobs/{j}/attempts").json()["attempts"]]
    assert len(attempts) == 3 and all(a["end_s"] >= a["start_s"] and a["device_s"] > 0 for a in attempts)
    usage = get(srv, token, "/v1/usage").json()["tenants"]["usage-a"]

    (me,) = get(srv, token, "/v1/dashboard/tenants").json()["tenants"]
    assert me["jobs"]["succeeded"] == 3
    assert me["device_s"] == pytest.approx(sum(a["device_s"] for a in attempts))
    assert me["device_s"] == pytest.approx(sum(c["device_s"] for c in usage.values()))
    assert sum(h["device_s"] for h in me["history"]) == pytest.approx(me["device_s"])
    assert sum(me["by_model"].values()) == pytest.approx(me["device_s"])

    energy = get(srv, token, "/v1/dashboard/energy").json()
    total_kwh = sum(s["kwh"] for s in energy["sites"])
    assert total_kwh == pytest.approx(sum(a["energy_kwh"] for a in attempts)) and total_kwh > 0
    assert total_kwh == pytest.approx(me["energy_kwh"])
    assert sum(t["kwh"] for t in energy["tiers"]) == pytest.approx(total_kwh)
    for s in energy["sites"]:
        assert sum(p["kwh"] for p in s["series"]) == pytest.approx(s["kwh"])
        assert (s["kg_co2"] > 0 and s["cost_usd"] > 0) == (s["kwh"] > 0)  # the local CPU pool has no TDP: 0 kWh
    hourly = get(srv, token, "/v1/dashboard/energy", bucket_s=3600).json()
    assert hourly["bucket_s"] == 3600 and sum(s["kwh"] for s in hourly["sites"]) == pytest.approx(total_kwh)
    assert get(srv, token, "/v1/dashboard/energy", bucket_s=1).status_code == 422


def test_the_page_and_its_files_need_no_token(srv: Server) -> None:
    page = httpx.get(f"{srv.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert httpx.get(f"{srv.url}/ui/index.html").status_code == 200
    assert httpx.get(f"{srv.url}/ui/no-such-file.js").status_code == 404
    assert httpx.get(f"{srv.url}/v1/jobs").status_code == 401  # the API behind it still does


def test_cpnet_dashboard_opens_the_browser_or_prints_the_url(srv: Server, tmp_path: Path) -> None:
    import os
    import stat
    import subprocess

    from live_server import CPNET, free_port

    opened = tmp_path / "opened"
    browser = tmp_path / "browser"  # Python's webbrowser runs $BROWSER with the URL
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "CPNET_URL": srv.url, "CPNET_CONFIG": str(tmp_path / "none.yaml"), "BROWSER": str(browser)}
    out = subprocess.run([*CPNET, "dashboard"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{srv.url}/" and opened.read_text().strip() == f"{srv.url}/"

    opened.unlink()
    quiet = subprocess.run([*CPNET, "dashboard", "--no-browser"], capture_output=True, text=True, env=env, timeout=60)
    assert quiet.returncode == 0 and quiet.stdout.strip() == f"{srv.url}/" and not opened.exists()

    nobody = subprocess.run([*CPNET, "dashboard", "--url", f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True, env=env, timeout=60)
    lines = [line for line in nobody.stderr.splitlines() if line.strip()]
    assert nobody.returncode == 2 and len(lines) == 1 and "no cpnet server answers" in lines[0], nobody.stderr


def test_api_workers_know_the_scenario_network(make_server: Callable[[str], Server]) -> None:
    """With --workers, the network page is answered by a worker process: it loads the scenario's links itself."""
    s = make_server("sqlite")
    s.start("--scenario", SCENARIO, "--executor", "simulated", "--workers", "2")
    token = s.admin_token()
    for _ in range(6):  # whichever worker answers
        links = get(s, token, "/v1/dashboard/network").json()["links"]
        assert len(links) == len(load_scenario(SCENARIO).network_links()) > 0
