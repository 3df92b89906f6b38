"""`cpnet whoami`, `cpnet admin list-tenants / rotate-token`, `cpnet site register`, through the real
CLI against a real server (SQLite and PostgreSQL); every user error is one line on stderr, exit 2."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cpnet.control.store import Store
from cpnet.control.store.store import token_id
from live_server import CPNET, Server, free_port


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("CPNET_URL", "CPNET_TOKEN", "CPNET_DB_URL")}
    return subprocess.run(
        [*CPNET, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "COLUMNS": "200", "CPNET_CONFIG": "/nonexistent/cpnet/config.yaml", **(env or {})},
    )


def _ok(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = _cli(*args, env=env)
    assert out.returncode == 0, (args, out.stderr)
    return out


def _one_line_error(out: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The command failed with exit 2 and said why in one line on stderr (no traceback, nothing on stdout)."""
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert out.stdout == "", out.stdout
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _status(srv: Server, token: str) -> int:
    return httpx.get(f"{srv.url}/v1/whoami", headers={"Authorization": f"Bearer {token}", "Connection": "close"}, timeout=10).status_code


def _tokens(srv: Server, tenant: str | None = None) -> dict[str, dict[str, object]]:
    rows = json.loads(_ok("admin", "list-tokens", *(["--tenant", tenant] if tenant else []), "--json", "--db", srv.db).stdout)
    return {str(r["id"]): r for r in rows}


# -- whoami -----------------------------------------------------------------------------------------


def test_whoami_names_the_tenant_or_the_admin_and_the_token(server: Server, tmp_path: Path) -> None:
    name = _name("who")
    token = server.tenant_cli(name)
    admin = server.admin_token()
    assert _ok("whoami", "--url", server.url, "--token", token).stdout == f"tenant {name} (token {token_id(token)})\n"
    assert _ok("whoami", "--url", server.url, "--token", admin).stdout == f"admin (token {token_id(admin)})\n"
    assert json.loads(_ok("whoami", "--url", server.url, "--token", token, "--json").stdout) == {
        "tenant": name,
        "admin": False,
        "admin_of": None,
        "token_id": token_id(token),
    }
    # the token (and URL) also come from the environment, or from the config file, like every client command
    assert _ok("whoami", env={"CPNET_URL": server.url, "CPNET_TOKEN": token}).stdout.startswith(f"tenant {name} ")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"url: {server.url}\ntoken: {admin}\n")
    assert _ok("whoami", env={"CPNET_CONFIG": str(cfg)}).stdout == f"admin (token {token_id(admin)})\n"


def test_whoami_errors_are_one_line(server: Server, tmp_path: Path) -> None:
    _one_line_error(_cli("whoami", "--url", server.url, "--token", "cpt_not-a-token"), "not signed in", "unknown token")
    _one_line_error(_cli("whoami", "--url", server.url, env={"CPNET_CONFIG": str(tmp_path / "none.yaml")}), "not signed in", "CPNET_TOKEN")
    dead = f"http://127.0.0.1:{free_port()}"
    _one_line_error(_cli("whoami", "--url", dead, "--token", "cpt_x"), f"cannot reach the cpnet server at {dead}")


# -- admin list-tenants, rotate-token ---------------------------------------------------------------


def test_list_tenants_counts_live_tokens(server: Server) -> None:
    a, b = _name("lt"), _name("lt")
    before = time.time()
    server.tenant_cli(a, 2.5)
    b_first = server.tenant_cli(b)
    _ok("admin", "create-token", a, "--ttl-s", "3600", "--db", server.db)
    store = Store(server.db)
    try:
        store.issue_token(a, time.time() - 100, ttl_s=10)  # expired 90 s ago: not live
    finally:
        store.close()
    _ok("admin", "revoke-token", token_id(b_first), "--db", server.db)  # b's only token: revoked

    rows = {r["name"]: r for r in json.loads(_ok("admin", "list-tenants", "--json", "--db", server.db).stdout)}
    assert rows[a]["weight"] == 2.5 and rows[a]["live_tokens"] == 2, rows[a]
    assert rows[b]["weight"] == 1.0 and rows[b]["live_tokens"] == 0, rows[b]
    assert before - 1 <= float(rows[a]["created_s"]) <= time.time()
    assert list(rows) == sorted(rows)  # by name
    table = _ok("admin", "list-tenants", "--db", server.db).stdout
    line_a = next(ln for ln in table.splitlines() if a in ln)
    assert "2.5" in line_a and line_a.rstrip(" │|").endswith("2") and time.strftime("%Y-%m-%d") in line_a, table


def test_rotate_token_revokes_it_and_prints_a_replacement(server: Server) -> None:
    name = _name("rot")
    first = server.tenant_cli(name)
    assert _status(server, first) == 200
    out = _ok("admin", "rotate-token", token_id(first), "--db", server.db)
    new = out.stdout.strip()
    assert new.startswith("cpt_") and len(out.stdout.splitlines()) == 1
    assert out.stderr.startswith(f"token id {token_id(new)} ") and token_id(first) in out.stderr, out.stderr
    assert _ok("whoami", "--url", server.url, "--token", new).stdout == f"tenant {name} (token {token_id(new)})\n"
    deadline = time.monotonic() + 3  # a server trusts a token it looked up for 0.5 s
    while _status(server, first) != 401:
        assert time.monotonic() < deadline, "the rotated token is still accepted"
        time.sleep(0.1)
    tokens = _tokens(server, name)
    assert tokens[token_id(first)]["state"] == "revoked" and tokens[token_id(new)]["state"] == "active"
    assert tokens[token_id(new)]["expires_s"] is None  # the old one never expired: nor does the new one

    # rotating it again, or a token that does not exist, is one line
    _one_line_error(_cli("admin", "rotate-token", token_id(first), "--db", server.db), f"token {token_id(first)} is already revoked", f"create-token {name}")
    _one_line_error(_cli("admin", "rotate-token", "0123456789abcdef", "--db", server.db), "no token '0123456789abcdef'")
    assert _tokens(server, name).keys() == tokens.keys()  # and made nothing


def test_rotate_keeps_the_lifetime_and_the_owner(server: Server) -> None:
    name = _name("ttl")
    server.tenant_cli(name)
    ttl_token = _ok("admin", "create-token", name, "--ttl-s", "3600", "--db", server.db).stdout.strip()
    new = _ok("admin", "rotate-token", ttl_token, "--db", server.db).stdout.strip()  # the token itself works as well as its id
    rec = _tokens(server, name)[token_id(new)]
    assert float(rec["expires_s"]) - float(rec["created_s"]) == pytest.approx(3600)  # type: ignore[arg-type]
    assert float(rec["created_s"]) > time.time() - 60  # type: ignore[arg-type]

    # an expired token can be renewed: the new one lives as long as the old one did, from now
    store = Store(server.db)
    try:
        expired, _ = store.issue_token(name, time.time() - 100, ttl_s=50)
    finally:
        store.close()
    assert _status(server, expired) == 401
    renewed = _ok("admin", "rotate-token", token_id(expired), "--db", server.db).stdout.strip()
    assert _status(server, renewed) == 200
    rec = _tokens(server, name)[token_id(renewed)]
    assert float(rec["expires_s"]) - float(rec["created_s"]) == pytest.approx(50)  # type: ignore[arg-type]

    # an admin token is replaced by an admin token
    admin = _ok("admin", "create-token", "--admin", "--db", server.db).stdout.strip()
    new_admin = _ok("admin", "rotate-token", token_id(admin), "--db", server.db).stdout.strip()
    assert new_admin.startswith("cpa_")
    assert _ok("whoami", "--url", server.url, "--token", new_admin).stdout == f"admin (token {token_id(new_admin)})\n"


def test_admin_user_errors_are_one_line(server: Server) -> None:
    missing = _name("nobody")
    _one_line_error(_cli("admin", "list-tokens", "--tenant", missing, "--db", server.db), f"no tenant '{missing}'")
    _one_line_error(_cli("admin", "create-token", missing, "--db", server.db), f"no tenant '{missing}'")
    _one_line_error(_cli("admin", "revoke-token", "0123456789abcdef", "--db", server.db), "no token")
    dead = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/cpnet"
    _one_line_error(_cli("admin", "list-tenants", "--db", dead), f"cannot open the database {dead}")


# -- site register ----------------------------------------------------------------------------------


def _site(srv: Server, site_id: str) -> dict[str, object]:
    with srv.client(srv.admin_token()) as c:
        sites = {s["id"]: s for s in c.get("/v1/sites").json()["sites"]}
    return dict(sites[site_id])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_site_register_from_flags_and_from_a_file(make_server: Callable[[str], Server], backend: str, tmp_path: Path) -> None:
    srv = make_server(backend)
    srv.start("--executor", "simulated", "--no-reconcile")
    admin = ["--url", srv.url, "--token", srv.admin_token()]
    out = _ok(
        "site", "register", "sh-edge", "--tier", "cloud", "--region", "east", "--lat", "31.23", "--lon", "121.47",
        "--inventory", "A100=8", "-i", "H100=2", "--pue", "1.3", "--price", "0.12", "--carbon", "581",
        "--power-cap-kw", "40", "--heartbeat-timeout-s", "120", *admin,
    )  # fmt: skip
    assert out.stdout.startswith("site sh-edge registered: cloud, region east, A100 8, H100 2; up"), out.stdout
    s = _site(srv, "sh-edge")
    assert (s["tier"], s["region"], s["lat"], s["lon"], s["inventory"]) == ("cloud", "east", 31.23, 121.47, {"A100": 8, "H100": 2})
    assert (s["pue"], s["price_usd_per_kwh"], s["carbon_g_per_kwh"], s["power_cap_kw"], s["heartbeat_timeout_s"]) == (1.3, 0.12, 581.0, 40.0, 120.0)
    assert s["source"] == "api" and s["state"] == "up"

    f = tmp_path / "site.yaml"
    f.write_text("id: robots\ntier: device\nregion: lab\ninventory: {CPU: 4}\nemulated: [CPU]\ncarbon_g_per_kwh: 100\nheartbeat_timeout_s: 30\n")
    got = json.loads(_ok("site", "register", "--file", str(f), "--carbon", "90", "--no-heartbeat", "--json", *admin).stdout)
    assert got["id"] == "robots" and got["tier"] == "device" and got["inventory"] == {"CPU": 4} and got["emulated"] == ["CPU"]
    assert got["carbon_g_per_kwh"] == 90.0 and got["heartbeat_timeout_s"] is None  # flags override the file
    assert _site(srv, "robots")["region"] == "lab"
    listed = _ok("site", "list", *admin).stdout
    assert "robots" in listed and "sh-edge" in listed and "CPU* 0/4" in listed
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(_ok("site", "list", "--csv", *admin).stdout))}
    assert json.loads(rows["sh-edge"]["inventory"]) == {"A100": 8, "H100": 2} and rows["robots"]["tier"] == "device"
    assert json.loads(rows["robots"]["emulated"]) == ["CPU"]
    assert {s["id"] for s in json.loads(_ok("site", "list", "--json", *admin).stdout)} >= {"robots", "sh-edge"}

    # registering the same id again replaces the site
    _ok("site", "register", "sh-edge", "-i", "A100=4", *admin)
    assert _site(srv, "sh-edge")["inventory"] == {"A100": 4}


def test_site_register_errors_are_one_line(server: Server, tmp_path: Path) -> None:
    admin = ["--url", server.url, "--token", server.admin_token()]
    tenant = ["--url", server.url, "--token", server.tenant_cli(_name("st"))]
    sid = _name("never")
    _one_line_error(_cli("site", "register", sid, "-i", "A100=1", *tenant), "not allowed", "admin token")
    _one_line_error(_cli("site", "register", sid, "-i", "A100=1", "--lat", "91", *admin), "lat:", "90")
    _one_line_error(_cli("site", "register", sid, "-i", "A100=1", "--pue", "0.5", *admin), "pue:")
    _one_line_error(_cli("site", "register", sid, "-i", "A100=lots", *admin), "--inventory", "'A100=lots'")
    _one_line_error(_cli("site", "register", sid, *admin), "--inventory MODEL=N")
    _one_line_error(_cli("site", "register", "-i", "A100=1", *admin), "site's id")
    _one_line_error(_cli("site", "register", sid, "-i", "A100=1", "--heartbeat-timeout-s", "5", "--no-heartbeat", *admin), "not both")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"id: {sid}\ninventory: {{A100: 1}}\ncolour: red\n")
    _one_line_error(_cli("site", "register", "--file", str(bad), *admin), str(bad), "unknown key colour")
    bad.write_text("- a list\n")
    _one_line_error(_cli("site", "register", "--file", str(bad), *admin), "expected a mapping")
    _one_line_error(_cli("site", "register", "--file", str(tmp_path / "missing.yaml"), *admin), "missing.yaml")
    dead = f"http://127.0.0.1:{free_port()}"
    _one_line_error(_cli("site", "register", sid, "-i", "A100=1", "--url", dead, "--token", "cpa_x"), f"cannot reach the cpnet server at {dead}")
    with server.client(server.admin_token()) as c:
        assert sid not in {s["id"] for s in c.get("/v1/sites").json()["sites"]}  # none of those registered anything
