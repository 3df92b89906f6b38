"""Tokens can be revoked and can expire: ids, created/expires/revoked times, `cpnet admin
create-token --ttl-s / revoke-token / list-tokens`, and the admin API. A revoked or expired token is
refused (401 saying which) within a second by every API worker. Before: a token, once seen, was
cached for the life of the process, and nothing could revoke it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select, text

from cpnet.control.store import Store
from cpnet.control.store import schema as t
from cpnet.control.store.store import hash_token, token_id
from live_server import CPNET, Server


def _fresh_get(srv: Server, token: str, path: str = "/v1/whoami") -> httpx.Response:
    """On a new connection each time, so that requests spread over the API workers."""
    return httpx.get(f"{srv.url}{path}", headers={"Authorization": f"Bearer {token}", "Connection": "close"}, timeout=10)


def _cli(srv: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CPNET, "admin", *args, "--db", srv.db], capture_output=True, text=True, check=True)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_revocation_reaches_every_worker_within_a_second(make_server: Callable[[str], Server], backend: str) -> None:
    srv = make_server(backend)
    srv.start("--executor", "simulated", "--workers", "2")
    srv.tenant_cli("rev")
    made = _cli(srv, "create-token", "rev")
    token = made.stdout.strip()
    assert token_id(token) in made.stderr
    for _ in range(30):  # every worker has it cached now
        r = _fresh_get(srv, token)
        assert r.status_code == 200 and r.json()["token_id"] == token_id(token)
    assert _cli(srv, "revoke-token", token_id(token)).stdout.strip() == f"{token_id(token)} revoked"
    time.sleep(1.0)
    for _ in range(30):
        r = _fresh_get(srv, token)
        assert r.status_code == 401 and r.json()["error"] == f"token {token_id(token)} was revoked", r.text
    listed = json.loads(_cli(srv, "list-tokens", "--tenant", "rev", "--json").stdout)
    states = {row["id"]: row["state"] for row in listed}
    assert states[token_id(token)] == "revoked" and list(states.values()).count("active") == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_tokens_expire(make_server: Callable[[str], Server], backend: str) -> None:
    srv = make_server(backend)
    srv.start("--executor", "simulated")
    srv.tenant_cli("exp")
    ttl = 4  # seconds: long enough for a CLI start on a loaded machine, before the first use below
    cli_token = _cli(srv, "create-token", "exp", "--ttl-s", str(ttl)).stdout.strip()
    cli_expires_by = time.time() + ttl  # made before the CLI exited
    with srv.client(srv.admin_token()) as admin:
        r = admin.post("/v1/tokens", json={"tenant": "exp", "ttl_s": ttl})
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["expires_s"] == pytest.approx(made["created_s"] + ttl) and made["state"] == "active"
    for tok in (cli_token, made["token"]):
        assert _fresh_get(srv, tok).status_code == 200
    time.sleep(max(cli_expires_by, made["expires_s"]) + 0.2 - time.time())
    for tok in (cli_token, made["token"]):
        r = _fresh_get(srv, tok)
        assert r.status_code == 401 and r.json()["error"] == f"token {token_id(tok)} expired"


def test_admin_api_creates_lists_and_revokes_tokens(server: Server) -> None:
    tenant_token = server.tenant("tok-a")
    other_token = server.tenant("tok-b")
    with server.client(server.admin_token()) as admin, server.client(tenant_token) as a, server.client(other_token) as b:
        second = admin.post("/v1/tokens", json={"tenant": "tok-a"}).json()
        assert second["tenant"] == "tok-a" and not second["admin"] and second["expires_s"] is None
        assert admin.post("/v1/tokens", json={"tenant": "nobody"}).status_code == 404
        assert admin.post("/v1/tokens", json={"tenant": "tok-a", "admin": True}).status_code == 422
        assert admin.post("/v1/tokens", json={"tenant": "tok-a", "ttl_s": 0}).status_code == 422
        assert a.post("/v1/tokens", json={"tenant": "tok-a"}).status_code == 403  # only the admin makes tokens
        # A tenant lists only its own tokens; the admin lists any.
        mine = {row["id"] for row in a.get("/v1/tokens").json()["tokens"]}
        assert mine == {token_id(tenant_token), second["id"]}
        assert {row["id"] for row in admin.get("/v1/tokens", params={"tenant": "tok-a"}).json()["tokens"]} == mine
        # Another tenant's token is not found; a tenant may revoke its own.
        assert b.post(f"/v1/tokens/{second['id']}/revoke").status_code == 404
        r = a.post(f"/v1/tokens/{second['id']}/revoke")
        assert r.status_code == 200 and r.json()["state"] == "revoked" and r.json()["revoked_s"] is not None
        assert _fresh_get(server, second["token"]).json()["error"] == f"token {second['id']} was revoked"
        # The admin revokes a tenant's token; the refusal is immediate in the process that revoked it.
        assert admin.post(f"/v1/tokens/{token_id(other_token)}/revoke").status_code == 200
        r = b.get("/v1/whoami")
        assert r.status_code == 401 and "revoked" in r.json()["error"]
        assert admin.post("/v1/tokens/0123456789abcdef/revoke").status_code == 404
        assert admin.post("/v1/tokens/not-an-id/revoke").status_code == 422
        assert a.get("/v1/whoami").status_code == 200  # its first token still works


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migration_gives_existing_tokens_ids(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue("pg").create_database(f"tokmig_{os.getpid()}")
    store = Store(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parents[2] / "src/cpnet/control/store/migrations"))
    with store.engine.begin() as c:  # a database made by the previous version, with a tenant and its token
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "0002")
        c.execute(insert(t.tenants).values(id="old", weight=1.0, created_s=1.0))
        # 0002's tokens table had no id, expires_s or revoked_s: insert with its columns only.
        c.execute(text("INSERT INTO tokens (hash, tenant_id, admin, created_s) VALUES (:h, 'old', :a, 1.0)"), {"h": hash_token("cpt_old"), "a": False})
    store.migrate()
    assert store.principal("cpt_old").token_id == token_id("cpt_old")  # type: ignore[union-attr]
    with store.engine.connect() as c:
        assert c.execute(select(t.tokens.c.id)).scalar_one() == hash_token("cpt_old")[:16]
    store.revoke_token(token_id("cpt_old"), 2.0)
    assert store.principal("cpt_old") is None and store.token_record("cpt_old").state(3.0) == "revoked"  # type: ignore[union-attr]
    store.close()
