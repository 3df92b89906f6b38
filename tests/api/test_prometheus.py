"""GET /metrics against a real `cpnet serve`: the numbers move as jobs run (single process and
--workers 2), follow Prometheus' naming rules, need an admin token, and the Grafana dashboard in
docs/grafana/cpnet.json only queries metrics the server exports."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cpnet.api.prom import WAIT_BUCKETS_S
from live_server import Server, wait_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "cpnet.json"
TDP_W = {"V100": 300.0}  # the catalog's V100 TDP
PUE, CARBON_G_PER_KWH, IDLE = 1.5, 400.0, 0.15
BOUNDED_LABELS = {"site", "model", "tenant", "state", "code", "le"}


class Scrape:
    """One /metrics answer, parsed with prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(self, sample: str, **labels: str) -> float:
        hits = [s.value for f in self.families.values() for s in f.samples if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
        assert len(hits) == 1, f"{sample}{labels}: {len(hits)} samples"
        return float(hits[0])

    def sum(self, sample: str, **labels: str) -> float:
        return sum(
            float(s.value) for f in self.families.values() for s in f.samples if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
        )


def scrape(srv: Server, token: str) -> Scrape:
    r = httpx.get(f"{srv.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(r.text)


def job_state(c: httpx.Client, job_id: str) -> str:
    return str(c.get(f"/v1/jobs/{job_id}").json()["state"])


@pytest.mark.parametrize(("backend", "workers"), [("sqlite", "0"), ("postgres", "2")])
def test_metrics_follow_jobs(make_server: Callable[[str], Server], backend: str, workers: str) -> None:
    srv = make_server(backend)
    srv.start("--workers", workers)
    admin = srv.admin_token()
    acme, _ = srv.tenant("acme"), srv.tenant("idle")
    with srv.client(admin) as a:
        r = a.post(
            "/v1/sites",
            json={"id": "dc1", "inventory": {"V100": 2}, "emulated": ["V100"], "pue": PUE, "carbon_g_per_kwh": CARBON_G_PER_KWH, "heartbeat_timeout_s": None},
        )
        assert r.status_code == 201, r.text

    before = scrape(srv, admin)
    assert before.value("cpnet_site_devices", site="dc1", model="V100") == 2
    assert before.value("cpnet_site_devices_busy", site="dc1", model="V100") == 0
    assert before.value("cpnet_site_up", site="dc1") == 1
    idle_w = PUE * IDLE * 2 * TDP_W["V100"]
    assert before.value("cpnet_site_power_watts", site="dc1") == pytest.approx(idle_w)
    assert before.value("cpnet_site_energy_kwh_total", site="dc1") == 0
    assert before.value("cpnet_queued_jobs", tenant="acme") == 0 and before.value("cpnet_queued_jobs", tenant="idle") == 0
    assert before.value("cpnet_job_wait_seconds_count", tenant="acme") == 0
    assert {s.labels["state"] for s in before.families["cpnet_jobs"].samples} == {"pending", "scheduled", "running", "succeeded", "failed", "cancelled"}
    assert before.sum("cpnet_jobs") == 0
    submitted_before = before.sum("cpnet_submission_duration_seconds_count", code="201")
    placed_before = before.sum("cpnet_scheduling_cycle_placements_sum")

    with srv.client(acme) as c:
        # One V100 busy for ~1.5 s; meanwhile a job wanting both waits in the queue behind it (FIFO).
        first = c.post("/v1/jobs", json={"command": ["sleep", "1.5"], "accelerator": "V100", "sites": ["dc1"]})
        assert first.status_code == 201, first.text
        wait_for(lambda: job_state(c, first.json()["id"]) == "running", "the first job never ran")
        second = c.post("/v1/jobs", json={"command": ["true"], "accelerator": "V100", "devices": 2, "sites": ["dc1"]})
        assert second.status_code == 201, second.text

        during = wait_for(lambda: (s := scrape(srv, admin)).value("cpnet_queued_jobs", tenant="acme") == 1 and s, "the second job was never queued")
        if job_state(c, first.json()["id"]) == "running":  # (a loaded machine may have ended it already)
            assert during.value("cpnet_site_devices_busy", site="dc1", model="V100") == 1
            assert during.value("cpnet_jobs", state="running") == 1
            busy_w = idle_w + PUE * (1 - IDLE) * 1 * TDP_W["V100"]  # cpnet.core.power's rule
            assert during.value("cpnet_site_power_watts", site="dc1") == pytest.approx(busy_w)
        assert during.value("cpnet_queued_jobs", tenant="idle") == 0
        assert during.value("cpnet_jobs", state="pending") == 1

        for j in (first, second):
            wait_for(lambda j=j: job_state(c, j.json()["id"]) == "succeeded", f"job {j.json()['id']} did not succeed")
        usage = c.get("/v1/usage").json()["tenants"]["acme"]["V100"]

    # The reconciler's metrics come from its process (the leader with --workers): they show up within a step or two.
    after = wait_for(
        lambda: (s := scrape(srv, admin)).sum("cpnet_scheduling_cycle_placements_sum") >= placed_before + 2 and s, "placements were not counted", 10
    )
    assert after.value("cpnet_jobs", state="succeeded") == 2 and after.value("cpnet_jobs", state="pending") == 0
    assert after.value("cpnet_queued_jobs", tenant="acme") == 0
    assert after.value("cpnet_site_devices_busy", site="dc1", model="V100") == 0
    assert after.value("cpnet_site_power_watts", site="dc1") == pytest.approx(idle_w)

    # Energy: the ended attempts, by the same rule as /v1/usage (device-seconds x TDP x PUE); carbon at the site's intensity.
    kwh = after.value("cpnet_site_energy_kwh_total", site="dc1")
    assert kwh > 0
    assert kwh == pytest.approx(usage["energy_kwh"], rel=1e-9)
    assert kwh >= 1.5 * TDP_W["V100"] * PUE / 3.6e6 * 0.9  # at least the first job's 1.5 device-seconds
    assert after.value("cpnet_site_carbon_grams_total", site="dc1") == pytest.approx(kwh * CARBON_G_PER_KWH)

    # Wait until first start: both jobs started; the second waited behind the first's 1.5 s.
    assert after.value("cpnet_job_wait_seconds_count", tenant="acme") == 2
    assert after.value("cpnet_job_wait_seconds_sum", tenant="acme") >= 1.0
    assert after.value("cpnet_job_wait_seconds_bucket", tenant="acme", le="+Inf") == 2
    assert after.value("cpnet_job_wait_seconds_bucket", tenant="acme", le=repr(WAIT_BUCKETS_S[-1])) == 2
    assert after.value("cpnet_job_wait_seconds_bucket", tenant="acme", le="0.5") <= 1  # the second one waited >= ~1.5 s
    assert after.value("cpnet_job_wait_seconds_count", tenant="idle") == 0

    # Event metrics: every API process's submissions, the reconciler's cycles.
    assert after.sum("cpnet_submission_duration_seconds_count", code="201") == submitted_before + 2
    assert after.sum("cpnet_submission_duration_seconds_sum", code="201") > 0
    assert after.sum("cpnet_scheduling_cycle_duration_seconds_count") >= 2
    assert after.sum("cpnet_scheduling_cycle_duration_seconds_count") == after.sum("cpnet_scheduling_cycle_placements_count")
    assert after.sum("cpnet_reconciler_step_duration_seconds_count") >= after.sum("cpnet_scheduling_cycle_duration_seconds_count")
    assert after.sum("cpnet_reconciler_step_failures_total") == 0
    with srv.client(acme) as c:
        assert c.post("/v1/jobs", json={"command": ["true"], "devices": 0}).status_code == 422
    assert scrape(srv, admin).sum("cpnet_submission_duration_seconds_count", code="422") == 1

    check_conventions(after)
    if workers != "0":  # every worker answers with the whole server's numbers
        scrapes = [scrape(srv, admin) for _ in range(8)]
        assert {s.sum("cpnet_submission_duration_seconds_count") for s in scrapes} == {after.sum("cpnet_submission_duration_seconds_count") + 1}


def check_conventions(s: Scrape) -> None:
    assert len(s.families) >= 15
    for name, fam in s.families.items():
        assert name.startswith("cpnet_"), name
        assert fam.documentation, name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        if fam.type == "counter":
            assert {x.name for x in fam.samples} <= {name + "_total", name + "_created"}, name
        else:
            assert not name.endswith("_total"), f"{name} is a {fam.type} named like a counter"
        if fam.type == "histogram":
            assert name.endswith(("_seconds", "_placements")), name
        for x in fam.samples:
            assert set(x.labels) <= BOUNDED_LABELS, f"{x.name} has unbounded labels {set(x.labels) - BOUNDED_LABELS}"
            assert not any(re.fullmatch(r"j-[0-9a-f]{8,}|[0-9a-f-]{32,36}", v) for v in x.labels.values()), f"{x.name}: a job id as a label value"
    for name in ("cpnet_site_energy_kwh", "cpnet_site_carbon_grams", "cpnet_reconciler_step_failures"):
        assert s.families[name].type == "counter", name
    for name in ("cpnet_jobs", "cpnet_queued_jobs", "cpnet_site_devices", "cpnet_site_devices_busy", "cpnet_site_power_watts"):
        assert s.families[name].type == "gauge", name
    for name in ("cpnet_job_wait_seconds", "cpnet_scheduling_cycle_duration_seconds", "cpnet_submission_duration_seconds", "cpnet_scheduling_cycle_placements"):
        assert s.families[name].type == "histogram", name


def test_metrics_need_an_admin_token(server: Server) -> None:
    tenant = server.tenant(f"prom{time.monotonic_ns()}")
    none = httpx.get(f"{server.url}/metrics", timeout=30)
    assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer" and "error" in none.json()
    bad = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer cpt_not-a-token"}, timeout=30)
    assert bad.status_code == 401
    forbidden = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {tenant}"}, timeout=30)
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["error"]
    ok = scrape(server, server.admin_token())
    assert "cpnet_jobs" in ok.families
    om = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {server.admin_token()}", "Accept": "application/openmetrics-text"}, timeout=30)
    assert om.status_code == 200 and om.headers["content-type"].startswith("application/openmetrics-text") and om.text.endswith("# EOF\n")
    assert "/metrics" not in httpx.get(f"{server.url}/openapi.json", timeout=30).json()["paths"]


# -- the Grafana dashboard ---------------------------------------------------------------------
def _exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["expr"]] if isinstance(node.get("expr"), str) else []) + [e for v in node.values() for e in _exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in _exprs(v)]
    return []


def exported_series(s: Scrape) -> set[str]:
    """Every series name a query may use: a counter's _total, a histogram's _bucket/_sum/_count, a gauge itself."""
    out: set[str] = set()
    for name, fam in s.families.items():
        out |= {name + "_total"} if fam.type == "counter" else {name + x for x in ("_bucket", "_sum", "_count")} if fam.type == "histogram" else {name}
    return out


def test_grafana_dashboard_queries_exported_metrics(make_server: Callable[[str], Server]) -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert 36 <= dash["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    for p in panels:
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
    exprs = _exprs(dash["panels"]) + [v["query"]["query"] for v in variables.values() if isinstance(v.get("query"), dict)]

    srv = make_server("sqlite")
    srv.start()
    admin = srv.admin_token()
    with srv.client(srv.tenant("g")) as c:  # a submission, so the labelled submission histogram has series
        assert c.post("/v1/jobs", json={"command": ["true"]}).status_code == 201
    exported = exported_series(scrape(srv, admin))
    used: set[str] = set()
    for e in exprs:
        names = set(re.findall(r"\bcpnet_[a-z0-9_]+", e))
        assert names, f"query names no cpnet metric: {e}"
        missing = names - exported
        assert not missing, f"{e}: not exported: {missing}"
        used |= names
    # The panels the dashboard promises.
    for needed in (
        "cpnet_site_devices_busy",
        "cpnet_site_devices",
        "cpnet_queued_jobs",
        "cpnet_job_wait_seconds_bucket",
        "cpnet_scheduling_cycle_duration_seconds_bucket",
        "cpnet_site_power_watts",
        "cpnet_site_energy_kwh_total",
        "cpnet_site_carbon_grams_total",
        "cpnet_submission_duration_seconds_bucket",
    ):
        assert needed in used, needed
    assert any("histogram_quantile(0.95" in e and "cpnet_job_wait_seconds_bucket" in e for e in exprs)
    assert any("histogram_quantile(0.99" in e and "cpnet_scheduling_cycle_duration_seconds_bucket" in e for e in exprs)
