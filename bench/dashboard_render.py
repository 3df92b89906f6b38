"""Render time of the web dashboard's pages over a large store (a benchmark, not a test).

Fills a fresh SQLite store with --jobs jobs (default 10,000) of several tenants in mixed states
(pending, scheduled, running, succeeded, failed, cancelled; the started and finished ones with a
placement at a scenario site and an attempt row, so usage and energy have something to add up),
starts a real `cpnet serve --no-reconcile` (simulated executor) on it (east-data-west-compute sites; nothing changes
the jobs while measuring), logs in with an admin token in headless Chromium (Debian's
/usr/bin/chromium through Playwright) and loads each page --loads times in a fresh navigation.

A page's time is from its navigation start (performance.timeOrigin) to the first of its main
elements being rendered (a job row, a site marker, ...), read in the page itself on an animation
frame. Prints one JSON object: {page: median ms, ..., "jobs": N, "target_ms": 1000, "met": bool,
"api_kb": {page: kB of API answers the page read by then}}. A page that shows an error instead ends the run.

    .venv/bin/python bench/dashboard_render.py            # 10,000 jobs, 5 loads per page
    .venv/bin/python bench/dashboard_render.py --jobs 2000 --loads 3
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import bindparam, insert, select, update

from cpnet.api.schemas import JobSubmit
from cpnet.control.store import Store
from cpnet.control.store import schema as t
from cpnet.scenario.loader import load_scenario

SCENARIO = "east-data-west-compute"
TARGET_MS = 1000.0
# state -> share of the jobs
MIX = {"pending": 0.15, "scheduled": 0.03, "running": 0.07, "succeeded": 0.55, "failed": 0.15, "cancelled": 0.05}
# page -> (route, the element whose rendering ends the measurement); "{job}" is a job id
PAGES = {
    "network": ("#/network", "[data-testid=site-marker]"),
    "queue": ("#/queue", "tr[data-testid=job-row]"),
    "job": ("#/job/{job}", "[data-testid=job-state]"),
    "tenants": ("#/tenants", "tr[data-testid=tenant-row]"),
    "energy": ("#/energy", "[data-testid=energy-chart]"),
    "simulations": ("#/simulations", "input[data-testid=results-file]"),
}
_VISIBLE_AT = """sel => {
  const err = document.querySelector("[data-testid=error]");
  if (err) return "error: " + err.textContent;
  for (const e of document.querySelectorAll(sel)) {
    const r = e.getBoundingClientRect();
    if ((r.width > 0 || r.height > 0 || e.getClientRects().length > 0) && getComputedStyle(e).visibility !== "hidden") return performance.now();
  }
  return false;
}"""
# kB of API answers the page read before it rendered (the queue reads one page of jobs, never all)
_API_KB = """() => performance.getEntriesByType("resource").filter(e => new URL(e.name).pathname.startsWith("/v1/"))
  .reduce((n, e) => n + (e.encodedBodySize || 0), 0) / 1024"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill_store(db: str, jobs: int, tenants: int, seed: int) -> tuple[str, str]:
    """Tenants t00.., `jobs` jobs in MIX's states (group-committed like the API's batcher, then
    moved to their states in one pass); returns (admin token, a succeeded job's id)."""
    rng = random.Random(seed)
    scenario = load_scenario(SCENARIO)
    pools = [(s.id, model) for s in scenario.sites for model in s.inventory]
    store = Store(db)
    store.migrate()
    now = time.time()
    names = [f"t{i:02d}" for i in range(tenants)]
    for name in names:
        store.create_tenant(name, 1.0 + (len(name) % 3), now)
    admin = store.create_token(None, now)
    t0 = now - 86_400.0
    items: list[tuple[str, str, dict[str, Any], float]] = []
    for i in range(jobs):
        spec = JobSubmit(command=["python", "train.py", "--epochs", str(1 + i % 9)], devices=rng.choice((1, 1, 1, 2, 4, 8))).model_dump(
            exclude_none=True, exclude={"idempotency_key"}
        )
        items.append((rng.choice(names), f"bench-{i}", spec, t0 + i * 86_000.0 / jobs))
    for k in range(0, jobs, 1000):
        store.submit_jobs(items[k : k + 1000])
    with store.engine.connect() as c:
        rows = c.execute(select(t.jobs.c.id, t.jobs.c.tenant_id, t.jobs.c.submitted_s, t.jobs.c.spec).order_by(t.jobs.c.seq)).all()
    states, weights = list(MIX), list(MIX.values())
    changes: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    for r in rows:
        state = rng.choices(states, weights)[0]
        if state == "pending":
            continue
        site, model = rng.choice(pools)
        n = int(r.spec.get("devices", 1))
        start = r.submitted_s + rng.uniform(1, 600)
        end = None if state in ("scheduled", "running") else min(start + rng.uniform(30, 7200), now)
        change = dict(
            b_id=r.id,
            state=state,
            version=2,
            attempt=1,
            started_s=start,
            finished_s=end,
            site=site,
            accelerator=model,
            num_devices=n,
            released=end is not None,
            exit_code=None if state in ("scheduled", "running", "cancelled") else (0 if state == "succeeded" else 1),
            reason={"succeeded": "exit code 0", "failed": "exit code 1", "cancelled": "cancelled by the tenant"}.get(state),
        )
        changes.append(change)
        if state != "scheduled":
            attempts.append(dict(job_id=r.id, attempt=1, tenant_id=r.tenant_id, site=site, accelerator=model, num_devices=n, start_s=start, end_s=end))
    with store.engine.begin() as c:
        cols = [k for k in changes[0] if k != "b_id"]
        c.execute(update(t.jobs).where(t.jobs.c.id == bindparam("b_id")).values({k: bindparam(k) for k in cols}), changes)
        c.execute(insert(t.attempts), attempts)
    done = next(ch["b_id"] for ch in changes if ch["state"] == "succeeded")
    store.close()
    return admin, done


def _login(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/")
    page.locator("input[data-testid=token]").fill(token)
    page.locator("button[data-testid=login]").click()
    page.locator("[data-testid=whoami]").wait_for(state="visible")


def measure(url: str, token: str, job_id: str, loads: int, chromium: str, timeout_ms: float) -> tuple[dict[str, float], dict[str, float]]:
    """{page: median ms to its first main element}, {page: kB of API answers read by then}."""
    out: dict[str, float] = {}
    kb: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            page = ctx.new_page()
            _login(page, url, token)  # the token stays in this tab's sessionStorage across navigations
            for name, (route, selector) in PAGES.items():
                times = []
                for _ in range(loads + 1):  # the first load warms the server's and the browser's caches
                    page.goto("about:blank")
                    page.goto(f"{url}/{route.format(job=job_id)}", wait_until="commit")
                    handle = page.wait_for_function(_VISIBLE_AT, arg=selector, polling="raf", timeout=timeout_ms)
                    value = handle.json_value()
                    if isinstance(value, str):
                        sys.exit(f"the {name} page showed an error instead of rendering: {value[len('error: ') :]}")
                    times.append(float(value))
                out[name] = round(statistics.median(times[1:]), 1)
                kb[name] = round(float(page.evaluate(_API_KB)), 1)
        finally:
            browser.close()
    return out, kb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--tenants", type=int, default=6)
    ap.add_argument("--loads", type=int, default=5, help="loads per page (the median is reported), after one warm-up load")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--timeout-s", type=float, default=30.0, help="give up on a page that has not rendered after this long")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="cpnet-dash-bench-") as tmp:
        data = Path(tmp)
        db = f"sqlite:///{data / 'cpnet.db'}"
        t_fill = time.monotonic()
        admin, job_id = fill_store(db, args.jobs, args.tenants, args.seed)
        fill_s = time.monotonic() - t_fill
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "cpnet.cli.main", "serve", "--db", db, "--data-dir", str(data / "data"), "--port", str(port)]
        cmd += ["--scenario", SCENARIO, "--executor", "simulated", "--no-reconcile"]  # nothing runs: the jobs stay as filled
        with open(data / "server.log", "wb") as log:
            server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit(f"server did not start:\n{(data / 'server.log').read_text()}")
                time.sleep(0.1)
            pages, api_kb = measure(url, admin, job_id, args.loads, args.chromium, args.timeout_s * 1000)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    result: dict[str, Any] = {**pages, "jobs": args.jobs, "target_ms": TARGET_MS, "met": all(v <= TARGET_MS for v in pages.values()), "api_kb": api_kb}
    print(json.dumps(result), flush=True)
    print(f"(store filled in {fill_s:.1f} s; median of {args.loads} loads per page after a warm-up)", file=sys.stderr)


if __name__ == "__main__":
    main()
