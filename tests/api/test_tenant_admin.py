"""The tenant tree through the API and `cpnet admin tenant` (issue 10 item 2), on a real server:
the admin builds org -> teams -> tenants; a team's admin sees its own subtree only, manages what is
strictly below its node, and its token is refused everywhere but /v1/tenants, /v1/tokens and
/v1/whoami; a budget on a team holds its tenants' jobs."""

from __future__ import annotations

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


@dataclass
class Tree:
    srv: Server
    admin: str
    vision_admin: str  # acme-vision's admin
    alice: str  # a tenant of acme-vision
    tmp: Path


def _post(srv: Server, token: str, path: str, body: dict[str, Any]) -> Any:
    with srv.client(token) as c:
        return c.post(path, json=body)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, reachable_tmp: Path) -> Iterator[Tree]:
    data = tmp_path_factory.mktemp(f"tree-{request.param}")
    db = f"sqlite:///{data / 'cpnet.db'}" if request.param == "sqlite" else request.getfixturevalue("pg").create_database(f"tree_{os.getpid()}")
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", db, data, port, job_root=Path(tempfile.mkdtemp(dir=reachable_tmp)))
    srv.start("--executor", "simulated", "--scenario", "east-data-west-compute")
    try:
        admin = srv.admin_token()
        for body in (
            {"name": "acme", "kind": "org", "weight": 2.0, "quota_cu_s": 400.0},
            {"name": "acme-vision", "kind": "team", "parent": "acme", "quota_cu_s": 250.0, "borrowing_limit_cu_s": 100.0},
            {"name": "acme-nlp", "kind": "team", "parent": "acme", "quota_cu_s": 150.0},
            {"name": "bob", "parent": "acme-nlp"},
        ):
            r = _post(srv, admin, "/v1/tenants", body)
            assert r.status_code == 201, r.text
        alice = _post(srv, admin, "/v1/tenants", {"name": "alice", "parent": "acme-vision"}).json()["token"]
        vision = _post(srv, admin, "/v1/tokens", {"admin_of": "acme-vision"})
        assert vision.status_code == 201 and vision.json()["admin_of"] == "acme-vision" and vision.json()["admin"] is False, vision.text
        yield Tree(srv, admin, vision.json()["token"], alice, data)
    finally:
        srv.stop()


def _names(srv: Server, token: str) -> list[str]:
    with srv.client(token) as c:
        return [n["name"] for n in c.get("/v1/tenants").json()["tenants"]]


def test_the_admin_sees_the_whole_tree_and_a_team_admin_its_subtree(tree: Tree) -> None:
    every = _names(tree.srv, tree.admin)
    assert {"acme", "acme-vision", "acme-nlp", "alice", "bob"} <= set(every) and "research" in every  # the scenario's tenants too
    assert _names(tree.srv, tree.vision_admin) == ["acme-vision", "alice"]
    with tree.srv.client(tree.vision_admin) as c:
        assert c.get("/v1/tenants/alice").json()["parent"] == "acme-vision"
        team = c.get("/v1/tenants/acme-vision").json()
        assert (team["kind"], team["quota_cu_s"], team["borrowing_limit_cu_s"], team["tenants"]) == ("team", 250.0, 100.0, ["alice"])
        for outside in ("bob", "acme-nlp", "acme", "research", "nobody"):
            assert c.get(f"/v1/tenants/{outside}").status_code == 404, outside  # outside its subtree: as if absent
        assert c.get("/v1/whoami").json() == {"tenant": None, "admin": False, "admin_of": "acme-vision", "token_id": c.get("/v1/whoami").json()["token_id"]}


def test_a_team_admin_manages_only_below_its_node(tree: Tree) -> None:
    va = tree.vision_admin
    made = _post(tree.srv, va, "/v1/tenants", {"name": "carol", "parent": "acme-vision", "weight": 3.0})
    assert made.status_code == 201 and made.json()["token"].startswith("cpt_")
    assert _post(tree.srv, va, "/v1/tenants", {"name": "dave", "parent": "acme-nlp"}).status_code == 403  # another team
    assert _post(tree.srv, va, "/v1/tenants", {"name": "erin"}).status_code == 403  # a root
    with tree.srv.client(va) as c:
        assert c.patch("/v1/tenants/carol", json={"weight": 5.0, "budget": {"amount": 50.0}}).json()["weight"] == 5.0
        own = c.patch("/v1/tenants/acme-vision", json={"quota_cu_s": 10_000.0})
        assert own.status_code == 403 and "set by the admin above it" in own.json()["error"]  # no raising its own quota
        assert c.patch("/v1/tenants/bob", json={"weight": 9.0}).status_code == 404
        assert c.post("/v1/tokens", json={"tenant": "bob"}).status_code == 404
        assert c.post("/v1/tokens", json={"admin_of": "acme-vision"}).status_code == 403
        assert c.post("/v1/tokens", json={"admin": True}).status_code == 403
        carol = c.post("/v1/tokens", json={"tenant": "carol"})
        assert carol.status_code == 201, carol.text
        assert {t["tenant"] for t in c.get("/v1/tokens").json()["tokens"]} <= {"alice", "carol", None}  # None: its own admin token
        assert c.delete("/v1/tenants/carol").status_code == 200
    # the token of a removed tenant no longer works
    with tree.srv.client(carol.json()["token"]) as c:
        assert wait_for(lambda: c.get("/v1/whoami").status_code == 401, "a removed tenant's token still works")


def test_a_team_admin_token_is_refused_for_jobs_usage_and_the_network(tree: Tree) -> None:
    with tree.srv.client(tree.vision_admin) as c:
        for method, path in (
            ("GET", "/v1/jobs"),
            ("POST", "/v1/jobs"),
            ("GET", "/v1/usage"),
            ("GET", "/v1/sites"),
            ("GET", "/v1/invoices"),
            ("GET", "/metrics"),
        ):
            r = c.request(method, path, json={"command": ["x"]} if method == "POST" else None)
            assert r.status_code == 403 and "manages its tenants and tokens only" in r.json()["error"], (method, path, r.text)


def test_tree_rules_are_422_naming_the_node_and_field(tree: Tree) -> None:
    bad = _post(tree.srv, tree.admin, "/v1/tenants", {"name": "frank", "parent": "bob"})  # a tenant cannot have members
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "parent"] and "node 'frank'" in bad.text, bad.text
    over = _post(tree.srv, tree.admin, "/v1/tenants", {"name": "greedy", "kind": "team", "parent": "acme", "quota_cu_s": 1.0})
    assert over.status_code == 422 and "more than this org's 400" in over.text, over.text  # 250 + 150 + 1 > 400
    assert _post(tree.srv, tree.admin, "/v1/tenants", {"name": "alice"}).status_code == 409
    with tree.srv.client(tree.admin) as c:
        busy = c.delete("/v1/tenants/acme-nlp")
        assert busy.status_code == 409 and "has members (bob)" in busy.json()["error"]


def _cli(tree: Tree, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CPNET_URL": tree.srv.url, "CPNET_TOKEN": token, "CPNET_CONFIG": str(tree.tmp / "none.yaml"), "COLUMNS": "120"}
    return subprocess.run([*CPNET, "admin", "tenant", *args], capture_output=True, text=True, env=env, timeout=60)


def test_the_cli_builds_and_shows_a_subtree(tree: Tree) -> None:
    made = _cli(tree, tree.vision_admin, "create", "gina", "--parent", "acme-vision", "--weight", "2", "--budget", "20:usd:week")
    assert made.returncode == 0 and made.stdout.startswith("cpt_"), made.stderr
    listed = _cli(tree, tree.vision_admin, "list")
    assert listed.returncode == 0 and "acme-vision" in listed.stdout and "  gina" in listed.stdout and "$20.00/week" in listed.stdout
    assert "bob" not in listed.stdout and "acme-nlp" not in listed.stdout
    refused = _cli(tree, tree.vision_admin, "set", "bob", "--weight", "3")
    assert refused.returncode == 2 and "no tenant 'bob'" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    token = _cli(tree, tree.admin, "token", "acme-nlp", "--admin")
    assert token.returncode == 0 and token.stdout.startswith("cpa_"), token.stderr
    assert "bob" in _cli(tree, token.stdout.strip(), "list").stdout


def test_a_budget_on_a_team_holds_its_tenants_jobs(tree: Tree) -> None:
    store = Store(tree.srv.db)
    try:
        rec = UsageRecord(time.time(), "bob", "attempt", "j-old-bob", 1, "s", "V100", 1, 0.0, 1.0, 10.0, 10.0, 0.0, "estimated", 0.0, "v", 9.0, 0.0, 0.0, 9.0)
        with store.engine.begin() as c:
            append(c, [rec])
    finally:
        store.close()
    with tree.srv.client(tree.admin) as c:
        assert c.patch("/v1/tenants/acme-nlp", json={"budget": {"amount": 8.0, "unit": "usd", "period": "month"}}).status_code == 200
        bob = c.post("/v1/tokens", json={"tenant": "bob"}).json()["token"]
    with tree.srv.client(bob) as cb:
        time.sleep(5.5)  # budgets are re-read every 5 s
        job = cb.post("/v1/jobs", json={"command": ["train"], "total_steps": 100}).json()["id"]
        got = wait_for(lambda: (j := cb.get(f"/v1/jobs/{job}").json())["reason"] and j, "no wait reason")
        assert got["state"] == "pending" and got["reason"].startswith("budget: team acme-nlp used $9.00 of $8.00 this month"), got
        cb.post(f"/v1/jobs/{job}/cancel")
