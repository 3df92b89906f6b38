"""Issue 7, findings 7-9: every parameter is bounded (a wild value is a 422, never a 500), body
models are strict and finite, job specs cannot carry NUL bytes or a non-normalized workdir, the
OpenAPI document says what the server answers, and OPTIONS / 405 behave the same on every path."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest

from cpnet.api.schemas import ABSOLUTE_PATH, absolute_path
from cpnet.control.reconciler import job_log_path
from live_server import Server


def _token(server: Server, name: str) -> str:
    """A new tenant's token (names are unique: the server is shared by the session's tests)."""
    return server.tenant(f"{name[:40]}-{uuid.uuid4().hex[:8]}")


def _tenant(server: Server, name: str) -> httpx.Client:
    return server.client(_token(server, name))


def _assert_422(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, (r.status_code, r.text)
    body = r.json()
    assert body["error"].startswith(f"{field}:") or f"{field}." in body["error"].split(":")[0], body["error"]
    assert any(field in [str(x) for x in d["loc"]] for d in body["detail"])


# -- finding 7: integers -------------------------------------------------------------------------
@pytest.mark.parametrize("after", [str(2**63), str(2**63 - 1), str(2**64), "1" + "0" * 30, "-1"])
def test_list_cursor_out_of_range_is_422(server: Server, after: str) -> None:
    c = _tenant(server, "cursor")
    _assert_422(c.get("/v1/jobs", params={"after": after}), "after")
    r = c.get("/v1/jobs", params={"after": str(2**53 - 1)})
    assert r.status_code == 200 and r.json()["jobs"] == []


@pytest.mark.parametrize("offset", [str(2**62), str(2**63), "1" + "0" * 30, "-1"])
def test_log_offset_out_of_range_is_422(server: Server, offset: str) -> None:
    c = _tenant(server, "offset")
    job = c.post("/v1/jobs", json={"command": ["sleep", "30"]}).json()
    _assert_422(c.get(f"/v1/jobs/{job['id']}/logs", params={"offset": offset}), "offset")
    c.post(f"/v1/jobs/{job['id']}/cancel")


def test_log_offset_past_the_end_is_empty_not_einval(server: Server) -> None:
    """The largest accepted offset on an existing log file: an empty answer (lseek is not even tried)."""
    c = _tenant(server, "logend")
    job = c.post("/v1/jobs", json={"command": ["sleep", "30"]}).json()
    c.post(f"/v1/jobs/{job['id']}/cancel")
    path = job_log_path(server.data_dir / "runs", job["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"0123456789")
    for offset, data in ((0, b"0123456789"), (4, b"456789"), (10, b""), (2**53 - 1, b"")):
        r = c.get(f"/v1/jobs/{job['id']}/logs", params={"offset": offset})
        assert r.status_code == 200, r.text
        assert r.content == data
        assert int(r.headers["X-Next-Offset"]) == offset + len(data)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/jobs/a%00b", "job_id"),
        ("/v1/jobs/a%01b/events", "job_id"),
        ("/v1/jobs/" + "x" * 200, "job_id"),
        ("/v1/jobs?tenant=a%00b", "tenant"),
        ("/v1/usage?tenant=a%00b", "tenant"),
        ("/v1/jobs?state=pending" + "&state=running" * 20, "state"),
    ],
)
def test_string_parameters_are_bounded(server: Server, path: str, field: str) -> None:
    """A NUL byte in a parameter would reach PostgreSQL (which refuses it: a 500)."""
    for token in (_token(server, "strp"), server.admin_token()):
        _assert_422(server.client(token).get(path), field)


def test_site_id_parameter_is_bounded(server: Server) -> None:
    a = server.client(server.admin_token())
    _assert_422(a.post("/v1/sites/a%00b/heartbeat", json={}), "site_id")
    assert a.post("/v1/sites/no-such-site/heartbeat", json={}).status_code == 404


# -- finding 8: strict, finite bodies ------------------------------------------------------------
SITE = {"id": "bounds-site", "inventory": {"CPU": 1}}
BAD_SITES = [
    ('{"id":"b1","inventory":{"CPU":1},"price_usd_per_kwh":Infinity}', "price_usd_per_kwh"),
    ('{"id":"b1","inventory":{"CPU":1},"carbon_g_per_kwh":Infinity}', "carbon_g_per_kwh"),
    ('{"id":"b1","inventory":{"CPU":1},"heartbeat_timeout_s":Infinity}', "heartbeat_timeout_s"),
    ('{"id":"b1","inventory":{"CPU":1},"heartbeat_timeout_s":NaN}', "heartbeat_timeout_s"),
    ('{"id":"b1","inventory":{"CPU":1},"pue":-Infinity}', "pue"),
    ('{"id":"b1","inventory":{"CPU":1},"carbon_g_per_kwh":false}', "carbon_g_per_kwh"),
    ('{"id":"b1","inventory":{"CPU":1},"price_usd_per_kwh":"0.1"}', "price_usd_per_kwh"),
    ('{"id":"b1","inventory":{"CPU":true}}', "inventory"),
    ('{"id":"b1","inventory":{"CPU":1.5}}', "inventory"),
    ('{"id":"b1","inventory":{"CPU":"1"}}', "inventory"),
    ('{"id":"b1","inventory":{"CPU":1},"lat":true}', "lat"),
    ('{"id":"b1","inventory":{"CPU":1},"price_usd_per_kwh":1e300}', "price_usd_per_kwh"),
    ('{"id":"b1","inventory":{"CPU":1},"carbon_g_per_kwh":1e9}', "carbon_g_per_kwh"),
    ('{"id":"b1","inventory":{"CPU":1},"heartbeat_timeout_s":1e12}', "heartbeat_timeout_s"),
    ('{"id":"b1","inventory":{"CPU":1},"heartbeat_timeout_s":5e-324}', "heartbeat_timeout_s"),
    ('{"id":"b1","inventory":{"CPU":1},"region":"a\\u0000b"}', "region"),
    ('{"id":"b1","inventory":{"C\\u0000PU":1}}', "inventory"),
    ('{"id":"b1","inventory":{"CPU":1},"emulated":["\\u0007"]}', "emulated"),
]


@pytest.mark.parametrize(("raw", "field"), BAD_SITES)
def test_site_register_is_strict_and_finite(server: Server, raw: str, field: str) -> None:
    a = server.client(server.admin_token())
    _assert_422(a.post("/v1/sites", content=raw, headers={"Content-Type": "application/json"}), field)
    assert all(s["id"] != "b1" for s in a.get("/v1/sites").json()["sites"])


def test_site_register_valid_bounds_still_accepted(server: Server) -> None:
    a = server.client(server.admin_token())
    r = a.post("/v1/sites", json={**SITE, "price_usd_per_kwh": 0, "carbon_g_per_kwh": 1000, "heartbeat_timeout_s": None, "lat": 1, "pue": 1})
    assert r.status_code == 201, r.text
    assert r.json()["price_usd_per_kwh"] == 0 and r.json()["heartbeat_timeout_s"] is None
    assert a.post("/v1/sites/bounds-site/heartbeat", json={"inventory": {"CPU": 2}}).json()["inventory"] == {"CPU": 2}
    _assert_422(a.post("/v1/sites/bounds-site/heartbeat", content='{"inventory":{"CPU":true}}', headers={"Content-Type": "application/json"}), "inventory")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"name":"w1","weight":5e-324}', "weight"),
        ('{"name":"w1","weight":Infinity}', "weight"),
        ('{"name":"w1","weight":true}', "weight"),
        ('{"name":"w1","weight":"2"}', "weight"),
        ('{"name":"w1","weight":1e7}', "weight"),
    ],
)
def test_tenant_create_is_strict_and_finite(server: Server, raw: str, field: str) -> None:
    a = server.client(server.admin_token())
    _assert_422(a.post("/v1/tenants", content=raw, headers={"Content-Type": "application/json"}), field)
    assert "w1" not in {t["name"] for t in a.get("/v1/tenants").json()["tenants"]}


BAD_JOBS = [
    ({"command": ["true"], "priority_weight": 5e-324}, "priority_weight"),
    ({"command": ["true"], "priority_weight": 0.0009}, "priority_weight"),
    ({"command": ["true"], "priority_weight": True}, "priority_weight"),
    ({"command": ["true"], "devices": True}, "devices"),
    ({"command": ["true"], "devices": 2.0}, "devices"),
    ({"command": ["true"], "devices": "2"}, "devices"),
    ({"command": ["true"], "total_steps": "100"}, "total_steps"),
    ({"command": ["a\x00b"]}, "command"),
    ({"command": ["true", "\x00"]}, "command"),
    ({"command": ["true"], "env": {"A": "x\x00y"}}, "env"),
    ({"command": ["true"], "env": {"A\x00": "x"}}, "env"),
    ({"command": ["true"], "workdir": "relative/dir"}, "workdir"),
    ({"command": ["true"], "workdir": "/a/../etc"}, "workdir"),
    ({"command": ["true"], "workdir": "/a/.."}, "workdir"),
    ({"command": ["true"], "workdir": "/a/./b"}, "workdir"),
    ({"command": ["true"], "workdir": "//a"}, "workdir"),
    ({"command": ["true"], "workdir": "/a/"}, "workdir"),
    ({"command": ["true"], "workdir": "/a\x00b"}, "workdir"),
    ({"command": ["true"], "workdir": "/a\nb"}, "workdir"),
    ({"command": ["true"], "idempotency_key": "k\x00"}, "idempotency_key"),
    ({"command": ["true"], "job_type": "x\x00"}, "job_type"),
    ({"command": ["true"], "data_site": "s\x1b[31m"}, "data_site"),
    ({"command": ["true"], "sites": ["s\x00"]}, "sites"),
    ({"command": ["true"], "accelerator": "A100\x00"}, "accelerator"),
]


@pytest.mark.parametrize(("body", "field"), BAD_JOBS)
def test_job_spec_is_strict_and_clean(server: Server, body: dict, field: str) -> None:
    c = _tenant(server, "spec")
    _assert_422(c.post("/v1/jobs", json=body), field)
    assert c.get("/v1/jobs").json()["jobs"] == []


def test_job_spec_infinity_is_422(server: Server) -> None:
    c = _tenant(server, "specinf")
    for raw, field in (('{"command":["true"],"total_steps":Infinity}', "total_steps"), ('{"command":["true"],"priority_weight":NaN}', "priority_weight")):
        _assert_422(c.post("/v1/jobs", content=raw, headers={"Content-Type": "application/json"}), field)


def test_job_spec_edge_values_still_accepted(server: Server, tmp_path: Path) -> None:
    c = _tenant(server, "specok")
    ok = {"command": ["sh", "-c", "echo 'a\tb\nc'"], "env": {"A": "line1\nline2"}, "workdir": "/", "priority_weight": 1e-3, "devices": 1, "total_steps": 1}
    r = c.post("/v1/jobs", json=ok)
    assert r.status_code == 201, r.text
    dotted = tmp_path / "a.b" / "..c" / "d"  # dots inside names are not `..` components
    dotted.mkdir(parents=True)  # the server runs jobs on this machine: a workdir must exist here
    assert c.post("/v1/jobs", json={"command": ["true"], "workdir": str(dotted)}).status_code == 201
    for j in c.get("/v1/jobs").json()["jobs"]:
        c.post(f"/v1/jobs/{j['id']}/cancel")


@pytest.mark.parametrize("path", ["/", "/a", "/a/b", "/a.b/..c/...", "/tmp/x y", "/a/b-c_d"])
def test_workdir_pattern_accepts_what_the_validator_accepts(path: str) -> None:
    assert absolute_path(path) == path
    assert re.fullmatch(ABSOLUTE_PATH, path)


@pytest.mark.parametrize("path", ["", "a", "//", "//a", "/a/", "/.", "/..", "/a/.", "/a/./b", "/a/../b", "/a//b", "/a\x00", "/a\x7f", "/a\x9f"])
def test_workdir_pattern_refuses_what_the_validator_refuses(path: str) -> None:
    with pytest.raises(ValueError):
        absolute_path(path)
    assert not re.fullmatch(ABSOLUTE_PATH, path)


# -- finding 9: OpenAPI and OPTIONS --------------------------------------------------------------
def _doc(server: Server) -> dict:
    return httpx.get(f"{server.url}/openapi.json").json()


def test_openapi_documents_error_answers(server: Server) -> None:
    doc = _doc(server)
    ops = {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}
    expect = {
        ("POST", "/v1/jobs"): {"200", "201", "401", "403", "413", "422", "429"},
        ("GET", "/v1/jobs"): {"200", "401", "422"},
        ("GET", "/v1/jobs/{job_id}"): {"200", "401", "404", "422"},
        ("POST", "/v1/jobs/{job_id}/cancel"): {"200", "400", "401", "404", "409", "422"},
        ("GET", "/v1/jobs/{job_id}/logs"): {"200", "401", "404", "422"},
        ("POST", "/v1/sites"): {"201", "401", "403", "413", "422"},
        ("POST", "/v1/sites/{site_id}/heartbeat"): {"200", "401", "403", "404", "413", "422"},
        ("POST", "/v1/tenants"): {"201", "401", "403", "409", "413", "422"},
        ("GET", "/v1/tenants"): {"200", "401", "403"},
        ("GET", "/v1/whoami"): {"200", "401"},
    }
    for key, codes in expect.items():
        assert codes <= set(ops[key]["responses"]), (key, sorted(ops[key]["responses"]))
    for (method, path), op in ops.items():
        if path != "/healthz":
            assert op.get("security") == [{"bearer": []}], (method, path)
            assert all(p["in"] != "header" or p["name"].lower() != "authorization" for p in op.get("parameters", [])), (method, path)
        for code, resp in op["responses"].items():
            if code.startswith("4"):
                assert list(resp["content"]) == ["application/json"], (method, path, code)
    assert ops[("GET", "/v1/jobs/{job_id}/logs")]["responses"]["200"]["content"].keys() == {"text/plain"}
    assert "Retry-After" in ops[("POST", "/v1/jobs")]["responses"]["429"]["headers"]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer", "description": "a tenant or admin token"}


def test_openapi_accelerator_is_the_catalog_enum(server: Server) -> None:
    doc = _doc(server)
    submit = doc["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert submit == {"$ref": "#/components/schemas/JobSubmit"}
    acc = doc["components"]["schemas"]["JobSubmit"]["properties"]["accelerator"]
    enum = next(a["enum"] for a in acc["anyOf"] if a.get("type") == "string")
    assert "A100" in enum and "CPU" in enum and enum == sorted(enum)
    # The enum is what the server accepts: each name passes the accelerator check, others do not.
    c = _tenant(server, "enum")
    r = c.post("/v1/jobs", json={"command": ["true"], "accelerator": "NoSuchGPU"})
    _assert_422(r, "accelerator")
    assert all(name in r.json()["error"] for name in enum)
    bounds = doc["paths"]["/v1/jobs"]["get"]["parameters"]
    after = next(p for p in bounds if p["name"] == "after")["schema"]
    assert after["maximum"] == 2**53 - 1 and after["minimum"] == 0


def test_options_is_204_with_allow_on_every_path(server: Server) -> None:
    doc = _doc(server)
    for template, item in doc["paths"].items():
        path = re.sub(r"\{[^}]+\}", "x", template)
        want = {m.upper() for m in item} | {"OPTIONS"}
        for headers in ({}, {"Authorization": f"Bearer {server.admin_token()}"}):
            r = httpx.options(server.url + path, headers=headers)
            assert r.status_code == 204, (path, r.status_code, r.text)
            assert set(r.headers["allow"].split(", ")) == want, (path, r.headers["allow"])
            assert r.content == b""
    assert {"/v1/jobs", "/v1/jobs/{job_id}/logs", "/v1/sites/{site_id}/heartbeat", "/v1/tenants", "/healthz"} <= set(doc["paths"])
    r = httpx.options(server.url + "/v1/nope")
    assert r.status_code == 404 and r.json() == {"error": "no such path '/v1/nope'"}


def test_wrong_method_is_405_with_the_full_allow_list(server: Server) -> None:
    token = _token(server, "method")
    r = httpx.delete(server.url + "/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    assert "DELETE" in r.json()["error"]
    r = httpx.put(server.url + "/v1/jobs/j-x/cancel", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"POST", "OPTIONS"}
    r = httpx.get(server.url + "/v1/no/such/path", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404 and r.json() == {"error": "no such path '/v1/no/such/path'"}
