"""The web dashboard at `/`, in headless Chromium against a real server: login (token in
sessionStorage only), the network map, the live queue following a job submitted with the CLI, a
job's page and logs, tenant isolation, paging, tenants, energy, and a `cpnet simulate` results file.

The pages are found by their data-testid hooks (the dashboard's test contract), never by layout
or wording. Screenshots of every page land in artifacts/dashboard/.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from cpnet.scenario.loader import load_scenario

SCENARIO = "east-data-west-compute"
SITES = [s.id for s in load_scenario(SCENARIO).sites]
LIVE_STATES = {"pending", "scheduled", "running"}
NAV = ("network", "queue", "tenants", "energy", "simulations")
SIM_POLICIES = ("fifo", "gavel-las", "las")
PAGE_SIZE = 50

Login = Callable[..., None]
Shot = Callable[[Page, str], Path]


def _storage(page: Page, which: str) -> dict[str, str]:
    return page.evaluate(f"() => Object.fromEntries(Object.keys({which}).map(k => [k, {which}.getItem(k)]))")


def _go(page: Page, route: str) -> None:
    """Change the route by the hash only (a same-document navigation, never a reload)."""
    page.evaluate("r => { location.hash = r }", route)


def _row(page: Page, job_id: str) -> Locator:
    return page.locator(f"tr[data-testid=job-row][data-job='{job_id}']")


def _error(page: Page) -> Locator:
    return page.locator("[data-testid=error]")


def _stamp_changes(page: Page) -> None:
    """Wait for the next successful refresh (the updated-at stamp changes)."""
    stamp = page.locator("[data-testid=updated-at]")
    expect(stamp).to_be_visible()
    expect(stamp).not_to_have_text(stamp.inner_text(), timeout=5_000)


def _submit(live, token: str, *command: str) -> str:
    """POST /v1/jobs (quicker than the CLI, for the jobs a test only needs to exist); the job id."""
    with live.srv.client(token) as c:
        r = c.post("/v1/jobs", json={"command": list(command)})
        assert r.is_success, r.text
        return str(r.json()["id"])


@pytest.fixture(scope="module")
def ab_jobs(live) -> tuple[str, str]:
    """A finished job of tenant A and one of tenant B (run side by side)."""
    a = _submit(live, live.tokens.a, "sh", "-c", "echo secret-of-tenant-a")
    b = _submit(live, live.tokens.b, "sh", "-c", "echo b-was-here")
    assert live.wait_state(live.tokens.a, a, {"succeeded", "failed"})["state"] == "succeeded"
    assert live.wait_state(live.tokens.b, b, {"succeeded", "failed"})["state"] == "succeeded"
    return a, b


@pytest.fixture(scope="module")
def a_job(ab_jobs: tuple[str, str]) -> str:
    return ab_jobs[0]


@pytest.fixture(scope="module")
def b_job(ab_jobs: tuple[str, str]) -> str:
    return ab_jobs[1]


def test_login_keeps_the_token_in_session_storage_only(new_context: Callable[[], BrowserContext], page: Page, live, login: Login, shot: Shot) -> None:
    page.goto(f"{live.url}/")
    expect(page.locator("input[data-testid=token]")).to_be_visible()
    expect(page.locator("[data-testid=whoami]")).to_have_count(0)
    shot(page, "login")

    login(page, live.tokens.a, route="")
    expect(page.locator("[data-testid=whoami]")).to_have_text("tenant web-a")
    for name in NAV:
        expect(page.locator(f"a[data-testid=nav-{name}]")).to_be_visible()
    assert not any(live.tokens.a in v for v in _storage(page, "localStorage").values()), _storage(page, "localStorage")
    assert any(live.tokens.a in v for v in _storage(page, "sessionStorage").values()), "the token is not kept in sessionStorage"
    assert live.tokens.a not in page.evaluate("document.cookie")
    assert live.tokens.a not in page.url

    # A second browser context (a new browsing session) starts logged out.
    other = new_context()
    p2 = other.new_page()
    p2.goto(f"{live.url}/#/queue")
    expect(p2.locator("input[data-testid=token]")).to_be_visible()
    expect(p2.locator("[data-testid=whoami]")).to_have_count(0)

    page.locator("button[data-testid=logout]").click()
    expect(page.locator("input[data-testid=token]")).to_be_visible()
    expect(page.locator("[data-testid=whoami]")).to_have_count(0)
    assert _storage(page, "sessionStorage") == {}
    page.reload()  # and it stays logged out
    expect(page.locator("input[data-testid=token]")).to_be_visible()


def test_a_401_returns_to_the_login_form_with_a_message(page: Page, live, login: Login) -> None:
    page.goto(f"{live.url}/")
    page.locator("input[data-testid=token]").fill("cpt_not-a-token")
    page.locator("button[data-testid=login]").click()
    expect(_error(page)).to_contain_text("unknown token")
    expect(page.locator("input[data-testid=token]")).to_be_visible()
    expect(page.locator("[data-testid=whoami]")).to_have_count(0)
    assert _storage(page, "sessionStorage") == {}

    # Mid-session: the token stops working (here: replaced), the next poll gets a 401.
    login(page, live.tokens.admin, route="#/queue")
    expect(page.locator("[data-testid=updated-at]")).to_be_visible()
    page.evaluate("() => { for (const k of Object.keys(sessionStorage)) sessionStorage.setItem(k, 'cpa_revoked') }")
    expect(page.locator("input[data-testid=token]")).to_be_visible()
    expect(_error(page)).to_contain_text("unknown token")
    expect(page.locator("[data-testid=whoami]")).to_have_count(0)


def test_network_map_has_every_scenario_site(page: Page, live, login: Login, shot: Shot) -> None:
    # The server's sites: the scenario's, plus the local executor's own ("local", this machine).
    with live.srv.client(live.tokens.admin) as c:
        net = c.get("/v1/dashboard/network").json()
    served = sorted(x["id"] for x in net["sites"])
    assert set(SITES) <= set(served)
    login(page, live.tokens.admin, route="#/network")
    expect(page.locator("[data-testid=whoami]")).to_have_text("admin")
    markers = page.locator("[data-testid=site-marker]")
    rows = page.locator("tr[data-testid=site-row]")
    expect(markers).to_have_count(len(served))
    expect(rows).to_have_count(len(served))
    for site in SITES:
        expect(page.locator(f"[data-testid=site-marker][data-site='{site}']")).to_have_count(1)
        expect(page.locator(f"tr[data-testid=site-row][data-site='{site}']")).to_have_count(1)
    assert sorted(m.get_attribute("data-site") or "" for m in markers.all()) == served

    # Markers lie where the sites are: west of a site is left on the map, north is up.
    def centre(site: str) -> tuple[float, float]:
        box = page.locator(f"[data-testid=site-marker][data-site='{site}']").bounding_box()
        assert box is not None
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    by_id = {x["id"]: x for x in net["sites"]}
    west, east = min(SITES, key=lambda s: by_id[s]["lon"]), max(SITES, key=lambda s: by_id[s]["lon"])
    south, north = min(SITES, key=lambda s: by_id[s]["lat"]), max(SITES, key=lambda s: by_id[s]["lat"])
    assert centre(west)[0] < centre(east)[0]
    assert centre(north)[1] < centre(south)[1]
    # A site's row says its tier, region and its devices by model.
    hub = next(x for x in net["sites"] if x["id"] in SITES and x["tier"] == "cloud")
    row = page.locator(f"tr[data-testid=site-row][data-site='{hub['id']}']")
    expect(row).to_contain_text("cloud")
    expect(row).to_contain_text(hub["region"])
    for model in hub["inventory"]:
        expect(row).to_contain_text(model)
    # The links are drawn, labelled with their latency.
    expect(page.locator("svg.map .links line").first).to_be_attached()
    expect(page.locator("svg.map .link-label").first).to_contain_text("ms")
    shot(page, "network")


def test_queue_follows_a_cli_job_without_reload_then_its_page_shows_the_logs(page: Page, live, login: Login, shot: Shot) -> None:
    login(page, live.tokens.a, route="#/queue")
    expect(page.locator("[data-testid=updated-at]")).to_be_visible()
    expect(page.locator("input[data-testid=filter-tenant]")).to_be_hidden()  # a tenant token has no tenant filter
    documents: list[str] = []
    page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)
    page.evaluate("window.__marker = 1")
    first_stamp = page.locator("[data-testid=updated-at]").inner_text()

    job_id = live.submit(live.tokens.a, "sh", "-c", "echo hello-dashboard; sleep 2")
    row = _row(page, job_id)
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while not seen or seen[-1] != "succeeded":
        assert time.monotonic() < deadline, f"queue row of {job_id} went through {seen}, never succeeded"
        states = row.evaluate_all("rs => rs.map(r => r.dataset.state)")
        assert len(states) <= 1, f"{len(states)} rows for one job"
        state = states[0] if states else None
        if state is not None and (not seen or seen[-1] != state):
            seen.append(state)
        assert state not in ("failed", "cancelled"), seen
        page.wait_for_timeout(100)
    assert set(seen[:-1]) & LIVE_STATES, f"never saw the job waiting or running, only {seen}"
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert documents == [], f"the page navigated: {documents}"
    assert page.locator("[data-testid=updated-at]").inner_text() != first_stamp, "updated-at never changed"
    expect(row.locator("td").nth(2)).to_have_text("succeeded")

    # Refreshes update the row in place: the same element, not a rebuilt table.
    page.evaluate("id => { window.__row = document.querySelector(`tr[data-job='${id}']`) }", job_id)
    _stamp_changes(page)
    assert page.evaluate("id => window.__row === document.querySelector(`tr[data-job='${id}']`) && window.__row.isConnected", job_id)
    shot(page, "queue")

    row.locator("a").first.click()  # the short id links to the job's page
    expect(page).to_have_url(re.compile(rf"#/job/{job_id}$"))
    expect(page.locator("[data-testid=job-state]")).to_have_text("succeeded")
    expect(page.locator("[data-testid=job-events] tbody tr")).to_have_count(4)  # submitted, scheduled, started, finished
    attempts = page.locator("[data-testid=job-attempts] tbody tr")
    expect(attempts).to_have_count(1)
    site = live.wait_state(live.tokens.a, job_id, {"succeeded"})["placement"]["site"]
    expect(attempts.first).to_contain_text(site)
    logs = page.locator("pre[data-testid=job-logs]")
    expect(logs).to_contain_text("hello-dashboard")
    assert logs.inner_text().count("hello-dashboard") == 1, "a log chunk was appended twice"
    expect(_error(page)).to_have_count(0)
    assert page.evaluate("window.__marker") == 1
    assert documents == []
    shot(page, "job")


def test_job_page_follows_the_log_of_a_running_job(page: Page, live, login: Login) -> None:
    job_id = _submit(live, live.tokens.a, "sh", "-c", "echo first-line; sleep 2; echo last-line")
    live.wait_state(live.tokens.a, job_id, {"running"})
    login(page, live.tokens.a, route=f"#/job/{job_id}")
    logs = page.locator("pre[data-testid=job-logs]")
    expect(logs).to_contain_text("first-line")
    expect(page.locator("[data-testid=job-state]")).to_have_text("running")
    expect(logs).not_to_contain_text("last-line")
    expect(page.locator("[data-testid=job-state]")).to_have_text("succeeded")
    expect(logs).to_contain_text("last-line")  # the read after the end has the rest
    assert logs.inner_text().split() == ["first-line", "last-line"]


def test_tenant_b_cannot_see_tenant_a_job_or_queue(page: Page, live, login: Login, shot: Shot, a_job: str, b_job: str) -> None:
    login(page, live.tokens.b, route=f"#/job/{a_job}")
    expect(_error(page)).to_be_visible()
    expect(_error(page)).to_contain_text("no job")
    expect(page.locator("[data-testid=job-state]")).to_have_count(0)
    expect(page.locator("pre[data-testid=job-logs]")).to_have_count(0)
    assert "secret-of-tenant-a" not in page.content()
    shot(page, "denied")

    _go(page, "#/job/j-0000000000000000")  # unknown: the same error, nothing leaks which one exists
    expect(_error(page)).to_contain_text("no job 'j-0000000000000000'")

    _go(page, "#/queue")
    expect(_row(page, b_job)).to_have_count(1)  # the queue has loaded B's own job ...
    expect(_row(page, a_job)).to_have_count(0)  # ... and not A's
    expect(_error(page)).to_have_count(0)
    assert a_job not in page.content()

    _go(page, "#/queue?tenant=web-a")  # another tenant's queue, asked by the link: 403, shown
    expect(_error(page)).to_contain_text("web-a")
    expect(page.locator("tr[data-testid=job-row]")).to_have_count(0)
    assert a_job not in page.content()
    assert b_job not in page.content()


def test_queue_filters_by_state_tenant_and_site(page: Page, live, login: Login, a_job: str, b_job: str) -> None:
    with live.srv.client(live.tokens.admin) as c:
        site_a = c.get(f"/v1/jobs/{a_job}").json()["placement"]["site"]
    other_site = next(s for s in SITES if s != site_a)
    login(page, live.tokens.admin, route="#/queue")
    expect(_row(page, a_job)).to_have_count(1)  # the admin sees every tenant's jobs
    expect(_row(page, b_job)).to_have_count(1)

    tenant, site, state = (
        page.locator("input[data-testid=filter-tenant]"),
        page.locator("select[data-testid=filter-site]"),
        page.locator("select[data-testid=filter-state]"),
    )
    expect(state.locator("option")).to_have_count(7)  # all, and each state
    tenant.fill("web-a")
    tenant.press("Enter")
    expect(_row(page, b_job)).to_have_count(0)
    expect(_row(page, a_job)).to_have_count(1)
    expect(page.locator("tr[data-testid=job-row]:not([data-state])")).to_have_count(0)

    state.select_option("failed")
    expect(_row(page, a_job)).to_have_count(0)
    state.select_option("succeeded")
    expect(_row(page, a_job)).to_have_count(1)
    expect(page.locator("tr[data-testid=job-row]:not([data-state=succeeded])")).to_have_count(0)

    # The site filter lists the network's sites.
    expect(site.locator(f"option[value='{site_a}']")).to_have_count(1)
    site.select_option(other_site)
    expect(_row(page, a_job)).to_have_count(0)
    site.select_option(site_a)
    expect(_row(page, a_job)).to_have_count(1)
    assert "tenant=web-a" in page.url and f"site={site_a}" in page.url  # the filters are in the link


def test_queue_pages_through_jobs_server_side(page: Page, live, login: Login) -> None:
    token = live.srv.tenant("web-pages")
    with live.srv.client(token) as c:
        for _ in range(PAGE_SIZE + 5):
            r = c.post("/v1/jobs", json={"command": ["true"]})
            assert r.is_success, r.text
        # Wait until they all ended: the queue's order (running, pending, then ended) is stable then.
        deadline = time.monotonic() + 60
        while c.get("/v1/dashboard/queue", params={"tenant": "web-pages", "limit": 1}).json()["counts"]["succeeded"] < PAGE_SIZE + 5:
            assert time.monotonic() < deadline, "the paging test's jobs did not all finish"
            time.sleep(0.2)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/v1/dashboard/queue" in r.url else None)
    login(page, live.tokens.admin, route="#/queue?tenant=web-pages")
    rows = page.locator("tr[data-testid=job-row]")
    expect(rows).to_have_count(PAGE_SIZE)
    first_page = set(rows.evaluate_all("rs => rs.map(r => r.dataset.job)"))
    prev, nxt = page.locator("button[data-testid=prev-page]"), page.locator("button[data-testid=next-page]")
    expect(prev).to_be_disabled()
    nxt.click()
    expect(rows).to_have_count(5)
    expect(nxt).to_be_disabled()
    assert not first_page & set(rows.evaluate_all("rs => rs.map(r => r.dataset.job)"))
    prev.click()
    expect(rows).to_have_count(PAGE_SIZE)
    assert all("limit=50" in u for u in requests), requests  # never every job at once


def test_tenants_and_energy_pages(new_context: Callable[[], BrowserContext], page: Page, live, login: Login, shot: Shot, a_job: str) -> None:
    login(page, live.tokens.admin, route="#/tenants")
    for tenant in ("web-a", "web-b", *load_scenario(SCENARIO).tenants):
        expect(page.locator(f"tr[data-testid=tenant-row][data-tenant='{tenant}']")).to_have_count(1)
    row_a = page.locator("tr[data-testid=tenant-row][data-tenant='web-a']")
    expect(row_a).to_contain_text("succeeded")
    expect(row_a).to_contain_text("device-h")
    expect(page.locator("[data-testid=tenant-chart] canvas")).to_be_visible()
    expect(page.get_by_text("quotas arrive with the tenants issue")).to_be_visible()
    shot(page, "tenants")

    _go(page, "#/energy")
    expect(page.locator("[data-testid=energy-chart] canvas")).to_be_visible()
    with live.srv.client(live.tokens.admin) as c:
        used = c.get("/v1/dashboard/energy").json()
    assert used["sites"], "no site used energy after a job ran"
    for x in used["sites"]:
        expect(page.locator(f"tr[data-testid=energy-row][data-site='{x['site']}']")).to_have_count(1)
    for t in used["tiers"]:
        expect(page.locator(f"tr[data-testid=energy-row][data-tier='{t['tier']}']:not([data-site])")).to_have_count(1)
    page.locator("[data-testid=energy-metric-kg_co2]").click()
    expect(page.locator("[data-testid=energy-chart]")).to_have_attribute("data-metric", "kg_co2")
    expect(page.locator("[data-testid=energy-metric-kg_co2]")).to_have_attribute("aria-pressed", "true")
    shot(page, "energy")

    # A tenant sees only itself.
    as_b = new_context().new_page()
    login(as_b, live.tokens.b, route="#/tenants")
    expect(as_b.locator("tr[data-testid=tenant-row][data-tenant='web-b']")).to_have_count(1)
    expect(as_b.locator("tr[data-testid=tenant-row]")).to_have_count(1)


@pytest.fixture(scope="module")
def results_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results.json of `cpnet simulate` on a tiny trace, three policies."""
    out = tmp_path_factory.mktemp("sim")
    args = ["--scenario", "gavel-36-36-36", "--jobs", "12", "--out", str(out)] + [a for p in SIM_POLICIES for a in ("--policy", p)]
    proc = subprocess.run([sys.executable, "-m", "cpnet.cli.main", "simulate", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out / "results.json"


def test_simulations_page_reads_a_results_file(page: Page, live, login: Login, shot: Shot, results_json: Path, tmp_path: Path) -> None:
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method != "GET" else None)
    login(page, live.tokens.a, route="#/simulations")
    file_input = page.locator("input[type=file][data-testid=results-file]")
    file_input.set_input_files(str(results_json))
    table = page.locator("[data-testid=sim-table]")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(len(SIM_POLICIES))
    for policy in SIM_POLICIES:  # one row per policy, named in a cell of its own ("las" is not "gavel-las")
        expect(rows.filter(has=page.locator("td, th", has_text=re.compile(rf"^\s*{re.escape(policy)}\s*$")))).to_have_count(1)
    expect(table.locator("thead")).to_contain_text("kWh")  # units from the key names
    charts = page.locator("[data-testid=sim-chart]")
    expect(charts).to_have_count(len(SIM_POLICIES))
    expect(charts.first.locator("canvas")).to_be_visible()
    assert uploads == [], f"the file went to the server: {uploads}"
    shot(page, "simulations")

    bad = tmp_path / "results.json"
    bad.write_text('{"runs": [')
    file_input.set_input_files(str(bad))
    expect(_error(page)).to_contain_text("not valid JSON")
    expect(page.locator("[data-testid=sim-table]")).to_have_count(0)
    other = tmp_path / "other.json"
    other.write_text('{"runs": "no"}')
    file_input.set_input_files(str(other))
    expect(_error(page)).to_contain_text("cpnet simulate")
