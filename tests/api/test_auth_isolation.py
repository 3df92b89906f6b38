"""Auth: every endpoint but /healthz needs a token; a tenant never sees another tenant's job."""

from __future__ import annotations

import httpx

from live_server import Server

# Every job endpoint, with the method and body it takes.
JOB_ENDPOINTS = [
    ("GET", "/v1/jobs/{id}", None),
    ("GET", "/v1/jobs/{id}/events", None),
    ("GET", "/v1/jobs/{id}/logs", None),
    ("POST", "/v1/jobs/{id}/cancel", None),
]
ALL_ENDPOINTS = [
    *JOB_ENDPOINTS,
    ("GET", "/v1/jobs", None),
    ("POST", "/v1/jobs", {"command": ["true"]}),
    ("GET", "/v1/sites", None),
    ("GET", "/v1/usage", None),
    ("GET", "/v1/whoami", None),
    ("POST", "/v1/tenants", {"name": "x"}),
    ("GET", "/v1/tenants", None),
]


def test_missing_or_wrong_token_is_401_json(server: Server) -> None:
    owner = server.client(server.tenant("iso-owner"))
    job = owner.post("/v1/jobs", json={"command": ["sleep", "30"], "idempotency_key": "k"}).json()
    headers = [{}, {"Authorization": "Bearer cpt_not-a-token"}, {"Authorization": "Basic abc"}]
    for method, path, body in ALL_ENDPOINTS:
        for h in headers:
            r = httpx.request(method, server.url + path.format(id=job["id"]), json=body, headers=h)
            assert r.status_code == 401, (method, path, h)
            assert "error" in r.json()
    assert httpx.get(server.url + "/healthz").status_code == 200
    owner.post(f"/v1/jobs/{job['id']}/cancel")


def test_other_tenants_job_is_404_on_every_job_endpoint(server: Server) -> None:
    owner = server.client(server.tenant("iso-a"))
    other = server.client(server.tenant("iso-b"))
    job = owner.post("/v1/jobs", json={"command": ["sleep", "30"], "idempotency_key": "k"}).json()
    for method, path, _ in JOB_ENDPOINTS:
        r = other.request(method, path.format(id=job["id"]))
        assert r.status_code == 404, (method, path)
        assert r.json() == {"error": f"no job '{job['id']}'"}  # same answer as a job that does not exist
    assert other.get("/v1/jobs").json()["jobs"] == []
    # The other tenant's cancel changed nothing; same idempotency key in another tenant is a new job.
    assert owner.get(f"/v1/jobs/{job['id']}").json()["state"] in ("pending", "scheduled", "running")
    mine = other.post("/v1/jobs", json={"command": ["true"], "idempotency_key": "k"}).json()
    assert mine["id"] != job["id"] and mine["tenant"] == "iso-b"
    admin = server.client(server.admin_token())
    seen = {j["id"] for j in admin.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]}
    assert {job["id"], mine["id"]} <= seen
    assert admin.get(f"/v1/jobs/{job['id']}").status_code == 200
    assert owner.post("/v1/tenants", json={"name": "nope"}).status_code == 403
    assert admin.post(f"/v1/jobs/{job['id']}/cancel").json()["state"] == "cancelled"
