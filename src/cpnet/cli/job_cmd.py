"""`cpnet job`: submit, list, show, logs, cancel, through the REST API."""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cpnet.cli.client import Client
from cpnet.core.errors import InputError

job = typer.Typer(help="Submit and follow jobs on a cpnet server.", no_args_is_help=True)
UrlOpt = Annotated[str | None, typer.Option("--url", help="server URL (or $CPNET_URL)")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="API token (or $CPNET_TOKEN)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
TERMINAL = {"succeeded", "failed", "cancelled"}


def _env(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise InputError("--env", f"'{p}' is not KEY=VALUE")
        out[k] = v
    return out


@job.command("submit", context_settings={"allow_interspersed_args": False})
def submit(
    command: Annotated[list[str], typer.Argument(help="the command and its arguments, after --")],
    accelerator: Annotated[str | None, typer.Option(help="accelerator model key (e.g. A100), or CPU")] = None,
    devices: Annotated[int, typer.Option(help="number of devices (gang)")] = 1,
    job_type: Annotated[str | None, typer.Option(help="throughput profile name; default generic")] = None,
    priority_weight: Annotated[float, typer.Option(help="the job's weight within its tenant")] = 1.0,
    env: Annotated[list[str], typer.Option(help="KEY=VALUE for the job's environment (repeatable)")] = [],  # noqa: B006
    data_site: Annotated[str | None, typer.Option(help="site where the job's data lives")] = None,
    site: Annotated[list[str], typer.Option(help="a site the job may run at (repeatable; any site when absent)")] = [],  # noqa: B006
    workdir: Annotated[str | None, typer.Option(help="absolute working directory for the command")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="resubmitting with the same key returns the same job")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a job: cpnet job submit --devices 1 -- python train.py --epochs 3"""
    body: dict[str, Any] = {
        "command": command,
        "devices": devices,
        "priority_weight": priority_weight,
        "env": _env(env),
        "idempotency_key": idempotency_key or uuid.uuid4().hex,
    }
    for k, v in (("accelerator", accelerator), ("job_type", job_type), ("data_site", data_site), ("workdir", workdir)):
        if v is not None:
            body[k] = v
    if site:
        body["sites"] = site
    # Same idempotency key on every retry: a retried submission never creates a second job.
    out = Client(url, token).json("POST", "/v1/jobs", json=body, retries=3)
    typer.echo(json.dumps(out) if as_json else out["id"])


@job.command("list")
def list_jobs(
    state: Annotated[list[str], typer.Option(help="only jobs in this state (repeatable)")] = [],  # noqa: B006
    limit: Annotated[int, typer.Option(help="at most this many")] = 100,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List your jobs (all tenants' with an admin token), oldest first; `cpnet job show` has a job's command."""
    client, after = Client(url, token), 0
    rows: list[dict[str, Any]] = []
    while len(rows) < limit:
        page = client.json("GET", "/v1/jobs", params={"state": state, "after": after, "limit": min(1000, limit - len(rows))})
        rows += page["jobs"]
        if page["next"] is None:
            break
        after = page["next"]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "tenant", "state", "placement", "exit", "reason")
    table.columns[-1].no_wrap = True
    table.columns[-1].overflow = "ellipsis"
    for j in rows:
        p = j["placement"]
        where = f"{p['devices']}x{p['accelerator']}@{p['site']}" if p else "-"
        table.add_row(j["id"], j["tenant"], j["state"], where, "" if j["exit_code"] is None else str(j["exit_code"]), (j.get("reason") or "")[:60])
    Console().print(table)


@job.command("show")
def show(job_id: str, url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """A job's state, placement, exit code, and its event history."""
    client = Client(url, token)
    j = client.json("GET", f"/v1/jobs/{job_id}")
    events = client.json("GET", f"/v1/jobs/{job_id}/events")["events"]
    if as_json:
        typer.echo(json.dumps({**j, "events": events}))
        return
    con = Console()
    p = j["placement"]
    con.print(f"[bold]{j['id']}[/bold]  tenant {j['tenant']}  state [bold]{j['state']}[/bold]  attempt {j['attempt']}")
    con.print(f"command: {' '.join(j['command'])}", highlight=False)
    if p:
        con.print(f"placement: {p['devices']} x {p['accelerator']} at {p['site']}{' (emulated)' if p['emulated'] else ''}")
    if j["exit_code"] is not None or j["reason"]:
        con.print(f"exit code: {j['exit_code']}  reason: {j['reason']}")
    table = Table("t_s", "event", "state", "message")
    for e in events:
        table.add_row(f"{e['t_s']:.3f}", e["kind"], f"{e['from_state'] or ''} -> {e['to_state'] or ''}" if e["to_state"] else "", e["message"])
    con.print(table)


@job.command("logs")
def logs(
    job_id: str,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="keep printing until the job ends")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print a job's output (stdout and stderr)."""
    client, offset = Client(url, token), 0
    while True:
        r = client.request("GET", f"/v1/jobs/{job_id}/logs", params={"offset": offset})
        sys.stdout.buffer.write(r.content)
        sys.stdout.flush()
        offset = int(r.headers["X-Next-Offset"])
        if not follow or (r.headers["X-Job-State"] in TERMINAL and not r.content):
            return
        if not r.content:
            time.sleep(0.5)


@job.command("cancel")
def cancel(job_id: str, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Cancel a job; a running job's process group is terminated."""
    out = Client(url, token).json("POST", f"/v1/jobs/{job_id}/cancel")
    typer.echo(f"{out['id']} {out['state']}")


def register(app: typer.Typer) -> None:
    app.add_typer(job, name="job")
