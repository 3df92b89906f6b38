"""A tenant cannot inflate the server's memory: lists return summaries of bounded size and pages
end at a byte budget, and each tenant has a submission rate and a queued-job limit (429 with
Retry-After). Before: 100 maximum-size specs were accepted and one `GET /v1/jobs?limit=100`
answered 124 MiB."""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from cpnet.api.batcher import SubmitBatcher
from cpnet.api.limits import Limits
from cpnet.control.store import Store
from cpnet.control.store import schema as t
from live_server import Server

_dbs = itertools.count()
# Close to the largest valid JobSubmit, about 1.3 MB of JSON (no workdir: with the local executor it must exist here;
# sites: the local executor's one site, since a job no known site can run is refused at submit).
BIG = {"command": ["x" * 4096] * 256, "env": {f"K{i}": "v" * 4096 for i in range(64)}, "sites": ["local"] * 256}


def test_lists_are_summaries_and_the_full_spec_stays_on_the_job(server: Server) -> None:
    token = server.tenant("bigspecs")
    with server.client(token) as c:
        ids = []
        for i in range(5):
            r = c.post("/v1/jobs", json={**BIG, "idempotency_key": f"big{i}"})
            assert r.status_code == 201, r.text[:300]
            ids.append(r.json()["id"])
        r = c.get("/v1/jobs", params={"limit": 100})
        assert r.status_code == 200
        assert len(r.content) < 5 * 1024, len(r.content)  # before: 5 x 1.3 MB
        page = r.json()
        assert [j["id"] for j in page["jobs"]] == ids and page["next"] is None
        assert not {"command", "env", "sites", "workdir"} & set(page["jobs"][0])
        assert {"id", "tenant", "state", "placement", "exit_code", "submitted_s"} <= set(page["jobs"][0])
        full = c.get(f"/v1/jobs/{ids[0]}").json()
        assert full["command"] == BIG["command"] and full["env"] == BIG["env"]
        for job_id in ids:
            c.post(f"/v1/jobs/{job_id}/cancel")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_pages_end_at_the_byte_budget_and_next_resumes(make_server: Callable[[str], Server], backend: str) -> None:
    srv = make_server(backend)
    srv.start("--executor", "simulated", "--no-reconcile", "--list-page-bytes", "4096")
    token = srv.tenant("pager")
    with srv.client(token) as c:
        ids = [c.post("/v1/jobs", json={"command": ["true"], "idempotency_key": f"{i:03d}" + "k" * 125}).json()["id"] for i in range(40)]
        seen: list[str] = []
        after, pages = 0, 0
        while True:
            r = c.get("/v1/jobs", params={"after": after, "limit": 1000})
            page = r.json()
            assert page["jobs"], page
            rows = [len(json.dumps(j, separators=(",", ":"))) for j in page["jobs"]]
            assert len(r.content) <= 4096 + max(rows) + 64, (len(r.content), rows)
            seen += [j["id"] for j in page["jobs"]]
            pages += 1
            if page["next"] is None:
                break
            after = page["next"]
        assert seen == ids and pages >= 4


def test_submission_rate_is_limited_per_tenant(make_server: Callable[[str], Server]) -> None:
    srv = make_server("sqlite")
    srv.start("--executor", "simulated", "--no-reconcile", "--submit-rate", "5", "--submit-burst", "10")
    a, b = srv.tenant("ratea"), srv.tenant("rateb")
    with srv.client(a) as c:
        codes = [c.post("/v1/jobs", json={"command": ["true"]}) for _ in range(14)]
        assert [r.status_code for r in codes[:10]] == [201] * 10
        refused = [r for r in codes[10:] if r.status_code == 429]
        assert len(refused) >= 3, [r.status_code for r in codes]
        r = refused[0]
        assert int(r.headers["Retry-After"]) >= 1
        body = r.json()
        assert body["limit"] == "submit_rate_per_s" and body["value"] == 5 and "rate" in body["error"] and "5" in body["error"]
        with srv.client(b) as other:  # another tenant's bucket is its own
            assert other.post("/v1/jobs", json={"command": ["true"]}).status_code == 201
        time.sleep(int(r.headers["Retry-After"]))
        assert c.post("/v1/jobs", json={"command": ["true"]}).status_code == 201


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_queued_jobs_are_limited_under_concurrent_submission(make_server: Callable[[str], Server], backend: str, workers: str) -> None:
    srv = make_server(backend)
    srv.start("--executor", "simulated", "--no-reconcile", "--workers", workers, "--max-queued-jobs", "20", "--submit-rate", "0")
    token = srv.tenant("queuer")

    def submit(i: int) -> tuple[int, dict[str, Any], str | None]:
        with srv.client(token) as c:  # a connection each: with --workers 2 they spread over both
            r = c.post("/v1/jobs", json={"command": ["true"], "idempotency_key": f"q{i}"})
            return r.status_code, r.json(), r.headers.get("Retry-After")

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(submit, range(120)))
    codes = Counter(code for code, _, _ in results)
    assert codes == {201: 20, 429: 100}, codes
    refusal = next(body for code, body, _ in results if code == 429)
    assert refusal["limit"] == "max_queued_jobs" and refusal["value"] == 20 and "queued-job limit" in refusal["error"]
    assert all(ra is not None and int(ra) >= 1 for code, _, ra in results if code == 429)
    store = Store(srv.db)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(t.jobs)).scalar_one() == 20
        assert {e["kind"] for j in store.list_jobs() for e in store.job_events(j.id)} == {"submitted"}
    finally:
        store.close()
    with srv.client(token) as c:
        admitted = [body["id"] for code, body, _ in results if code == 201]
        for job_id in admitted[:3]:
            assert c.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
        time.sleep(0.6)  # a tenant found full is refused without a count for 0.5 s
        again = [c.post("/v1/jobs", json={"command": ["true"], "idempotency_key": f"again{i}"}).status_code for i in range(5)]
        assert again == [201, 201, 201, 429, 429], again


class _CountingStore:
    """A Store that records how often `submit_jobs` was asked to count live jobs."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.counts = 0

    def submit_jobs(self, items: Any, max_live: Any = None, live: Any = None) -> Any:
        if max_live:
            self.counts += 1
        return self.store.submit_jobs(items, max_live=max_live, live=live)


def test_the_queue_limit_costs_no_count_per_request_far_from_the_limit(store_url: str) -> None:
    import asyncio

    store = Store(store_url)
    store.migrate()
    store.create_tenant("busy", 1.0, 0.0)
    counting = _CountingStore(store)
    batcher = SubmitBatcher(counting, Limits(max_queued_jobs=10_000))  # type: ignore[arg-type]

    async def go(n: int) -> None:
        for i in range(n):  # one at a time: every request is its own batch
            await batcher.submit("busy", f"k{i}", {"command": ["true"]}, 0.0)

    asyncio.run(go(300))
    assert counting.counts == 1  # the first sight of the tenant; then the writer's own tally
    # Near the limit it counts (exactly, in the transaction), and refuses past it.
    tight = SubmitBatcher(counting, Limits(max_queued_jobs=302))  # type: ignore[arg-type]

    async def fill() -> list[str]:
        out = []
        for i in range(4):
            try:
                await tight.submit("busy", f"t{i}", {"command": ["true"]}, 0.0)
                out.append("ok")
            except Exception as exc:  # ApiError 429
                out.append(str(getattr(exc, "status", exc)))
        return out

    assert asyncio.run(fill()) == ["ok", "ok", "429", "429"]
    store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'q.db'}"
    return request.getfixturevalue("pg").create_database(f"qlimit{next(_dbs)}_{os.getpid()}")
