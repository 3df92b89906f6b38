"""`cpnet admin tenant`: the tenant tree (orgs, teams, tenants) through the API (`/v1/tenants`).

With the admin's token every node; with an org's or a team's admin token (`cpnet admin tenant
token NODE --admin`) its own subtree: it sees its node and everything below, and manages what is
strictly below (cpnet.api.routers.admin says who may do what).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cpnet.cli.client import Client
from cpnet.core.errors import CpnetError

tenant = typer.Typer(
    help="The tenant tree through the API: orgs, teams and tenants with weights, quotas, limits and budgets (an admin's or a node admin's token).",
    no_args_is_help=True,
)

UrlOpt = Annotated[str | None, typer.Option("--url", help="server URL (or $CPNET_URL)")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="API token (or $CPNET_TOKEN)")]
WeightOpt = Annotated[float | None, typer.Option(help="fair-share weight (> 0)")]
QuotaOpt = Annotated[float | None, typer.Option("--quota-cu-s", help="guaranteed CU/s of the subtree (all accelerator families)")]
FamilyOpt = Annotated[list[str], typer.Option("--family-quota", metavar="VENDOR=CU_S", help="guaranteed CU/s of one family, e.g. NVIDIA=100 (repeatable)")]
BorrowOpt = Annotated[float | None, typer.Option("--borrowing-limit-cu-s", help="how far use may exceed the quota")]
LendOpt = Annotated[float | None, typer.Option("--lending-limit-cu-s", help="how much unused quota others may use")]
BudgetOpt = Annotated[str | None, typer.Option("--budget", metavar="AMOUNT[:usd|cu[:day|week|month]]", help="a budget per period, e.g. 500:usd:month")]


def _family(pairs: list[str]) -> dict[str, float]:
    out = {}
    for p in pairs:
        k, eq, v = p.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            eq = ""
        if not eq or not k.strip():
            raise CpnetError(f"--family-quota {p!r}: expected VENDOR=CU_S, e.g. NVIDIA=100")
    return out


def _budget(text: str) -> dict[str, Any] | None:
    if text.lower() in ("none", "off", ""):
        return None
    parts = text.split(":")
    try:
        amount = float(parts[0])
    except ValueError:
        raise CpnetError(f"--budget {text!r}: expected AMOUNT[:usd|cu[:day|week|month]], e.g. 500:usd:month (or none)") from None
    return {"amount": amount, "unit": parts[1] if len(parts) > 1 else "usd", "period": parts[2] if len(parts) > 2 else "month"}


def _fields(weight: float | None, quota: float | None, family: list[str], borrow: float | None, lend: float | None, budget: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in (("weight", weight), ("quota_cu_s", quota), ("borrowing_limit_cu_s", borrow), ("lending_limit_cu_s", lend)):
        if value is not None:
            body[key] = value
    if family:
        body["family_quota_cu_s"] = _family(family)
    if budget is not None:
        body["budget"] = _budget(budget)
    return body


def _budget_text(b: dict[str, Any] | None) -> str:
    if b is None:
        return ""
    return (f"${b['amount']:,.2f}" if b["unit"] == "usd" else f"{b['amount']:,.0f} CU·s") + f"/{b['period']}"


@tenant.command("create")
def create(
    name: Annotated[str, typer.Argument(help="the new node's name")],
    kind: Annotated[str, typer.Option(help="tenant (submits jobs), team or org")] = "tenant",
    parent: Annotated[str | None, typer.Option(help="an org or team (a node admin must give one in its subtree)")] = None,
    weight: WeightOpt = None,
    quota_cu_s: QuotaOpt = None,
    family_quota: FamilyOpt = [],  # noqa: B006
    borrowing_limit_cu_s: BorrowOpt = None,
    lending_limit_cu_s: LendOpt = None,
    budget: BudgetOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Add an org, team or tenant; a tenant's first token is printed (shown once)."""
    body = {"name": name, "kind": kind, "parent": parent, **_fields(weight, quota_cu_s, family_quota, borrowing_limit_cu_s, lending_limit_cu_s, budget)}
    out = Client(url, token).json("POST", "/v1/tenants", json=body)
    if out.get("token"):
        typer.echo(out["token"])
        typer.echo(f"{kind} {name} created; token id {out['token_id']}", err=True)
    else:
        typer.echo(f"{kind} {name} created")


@tenant.command("list")
def list_nodes(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """The nodes you may see, as a tree: kind, weight, quota, limits, budget."""
    nodes = Client(url, token).json("GET", "/v1/tenants")["tenants"]
    if as_json:
        typer.echo(json.dumps(nodes))
        return
    names = {n["name"] for n in nodes}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for n in nodes:
        children.setdefault(n["parent"] if n["parent"] in names else None, []).append(n)
    table = Table("node", "kind", "weight", "quota CU/s", "borrow", "lend", "budget")
    stack = [(n, 0) for n in reversed(children.get(None, []))]
    while stack:
        n, depth = stack.pop()
        fam = ", ".join(f"{k} {v:g}" for k, v in n["family_quota_cu_s"].items())
        quota = " / ".join(x for x in ("" if n["quota_cu_s"] is None else f"{n['quota_cu_s']:g}", fam) if x)
        lim = (
            "" if n["borrowing_limit_cu_s"] is None else f"{n['borrowing_limit_cu_s']:g}",
            "" if n["lending_limit_cu_s"] is None else f"{n['lending_limit_cu_s']:g}",
        )
        table.add_row("  " * depth + n["name"], n["kind"], f"{n['weight']:g}", quota, *lim, _budget_text(n["budget"]))
        stack.extend((c, depth + 1) for c in reversed(children.get(n["name"], [])))
    Console().print(table)


@tenant.command("show")
def show(name: Annotated[str, typer.Argument(help="an org, team or tenant")], url: UrlOpt = None, token: TokenOpt = None) -> None:
    """One node as JSON: its fields, members and the tenants below it."""
    typer.echo(json.dumps(Client(url, token).json("GET", f"/v1/tenants/{name}"), indent=2))


@tenant.command("set")
def set_node(
    name: Annotated[str, typer.Argument(help="an org, team or tenant")],
    weight: WeightOpt = None,
    quota_cu_s: QuotaOpt = None,
    family_quota: FamilyOpt = [],  # noqa: B006
    borrowing_limit_cu_s: BorrowOpt = None,
    lending_limit_cu_s: LendOpt = None,
    budget: BudgetOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Change a node's weight, quotas, limits or budget (`--budget none` removes it)."""
    body = _fields(weight, quota_cu_s, family_quota, borrowing_limit_cu_s, lending_limit_cu_s, budget)
    if not body:
        raise CpnetError("nothing to change: give --weight, --quota-cu-s, --family-quota, a limit or --budget")
    out = Client(url, token).json("PATCH", f"/v1/tenants/{name}", json=body)
    typer.echo(json.dumps(out))


@tenant.command("delete")
def delete(name: Annotated[str, typer.Argument(help="a node without members (a tenant without jobs)")], url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Remove a node and its tokens."""
    Client(url, token).json("DELETE", f"/v1/tenants/{name}")
    typer.echo(f"{name} deleted")


@tenant.command("token")
def make_token(
    name: Annotated[str, typer.Argument(help="a tenant (its token), or with --admin an org or team (its admin's token)")],
    admin_of: Annotated[bool, typer.Option("--admin", help="an admin token of the org or team NAME: manages its subtree")] = False,
    ttl_s: Annotated[float | None, typer.Option(help="seconds until it expires")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print a new token (shown once)."""
    body: dict[str, Any] = {"admin_of": name} if admin_of else {"tenant": name}
    if ttl_s is not None:
        body["ttl_s"] = ttl_s
    out = Client(url, token).json("POST", "/v1/tokens", json=body)
    typer.echo(out["token"])
    typer.echo(f"token id {out['id']}", err=True)
