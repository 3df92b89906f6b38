"""`cpnet job`: submit, list, show, attempts, logs, cancel, through the REST API.

A job is named by its id (`j-` and 16 hex digits) or any prefix of it that only one of your jobs
has, with or without `j-`: `cpnet job list` shows the shortest such prefix (at least 6 digits). The
server resolves it (GET /v1/jobs/{prefix}); a prefix of several jobs is refused with the candidates.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer
from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.table import Table

from cpnet.cli.client import Client
from cpnet.cli.output import csv_text
from cpnet.cli.times import TIME_FORMS, parse_time, unix_time
from cpnet.core.errors import CpnetError, InputError

if TYPE_CHECKING:
    from cpnet.cli.jobfile import JobBody

job = typer.Typer(help="Submit and follow jobs on a cpnet server.", no_args_is_help=True)
UrlOpt = Annotated[str | None, typer.Option("--url", help="server URL (or $CPNET_URL)")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="API token (or $CPNET_TOKEN)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
JobArg = Annotated[str, typer.Argument(help="job id, or a prefix of it that only one of your jobs has (with or without j-)")]
TERMINAL = {"succeeded", "failed", "cancelled"}
ACTIVE = ("running", "scheduled", "pending")
CSV_COLUMNS: tuple[str, ...] = (
    "id", "short_id", "name", "tenant", "state", "reason", "position", "tenant_position", "submitted", "started", "finished", "elapsed_s",
)  # fmt: skip
CSV_COLUMNS += ("devices", "site", "accelerator", "exit_code")
QUEUE_PAGE = 500  # the most jobs one GET /v1/dashboard/queue returns


def _env(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise InputError("--env", f"'{p}' is not KEY=VALUE")
        out[k] = v
    return out


def _path(job_id: str) -> str:
    return f"/v1/jobs/{quote(job_id, safe='')}"


def _local(t_s: float | None) -> str:
    """A Unix time as local date and time, to the second."""
    return "-" if t_s is None else datetime.fromtimestamp(t_s).strftime("%Y-%m-%d %H:%M:%S")


def _span(s: float | None, coarse: bool = False) -> str:
    """A duration in at most two units: 45s, 12m05s, 3h05m, 2d04h (`coarse`: the largest unit only)."""
    if s is None:
        return "-"
    s = max(0.0, s)
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for i, (name, size) in enumerate(units):
        if s >= size or name == "s":
            big = int(s // size)
            if coarse or name == "s":
                return f"{big}{name}"
            small_name, small_size = units[i + 1]
            return f"{big}{name}{int((s - big * size) // small_size):02d}{small_name}"
    return "-"  # not reached: the loop always returns at "s"


def _elapsed(j: dict[str, Any], now_s: float) -> float | None:
    """How long the job's current (or last) attempt has run: to its end, or to now while it runs."""
    if j.get("started_s") is None:
        return None
    end = j.get("finished_s") if j["state"] in TERMINAL else now_s
    return None if end is None else end - j["started_s"]


@job.command("submit", context_settings={"allow_interspersed_args": False})
def submit(
    command: Annotated[list[str] | None, typer.Argument(help="the command and its arguments, after -- (in place of the file's)")] = None,
    file: Annotated[str | None, typer.Option("-f", "--file", help="a job YAML file (examples/job.yaml); flags override its fields")] = None,
    name: Annotated[str | None, typer.Option(help="a name for the job, shown by `cpnet job list`")] = None,
    accelerator: Annotated[str | None, typer.Option(help="accelerator model key (e.g. A100), or CPU; default any")] = None,
    devices: Annotated[int | None, typer.Option(help="number of devices (gang); default 1")] = None,
    job_type: Annotated[str | None, typer.Option(help="throughput profile name; default generic")] = None,
    priority_weight: Annotated[float | None, typer.Option(help="the job's weight within its tenant; default 1")] = None,
    env: Annotated[list[str], typer.Option(help="KEY=VALUE for the job's environment (repeatable; over the file's)")] = [],  # noqa: B006
    data_site: Annotated[str | None, typer.Option(help="site where the job's data lives")] = None,
    data_gb: Annotated[float | None, typer.Option(help="size of the job's input data at --data-site, GB")] = None,
    deadline: Annotated[str | None, typer.Option(help="finish by: an ISO date-time (local time without an offset) or Unix seconds")] = None,
    site: Annotated[list[str], typer.Option(help="a site the job may run at (repeatable; any site when absent)")] = [],  # noqa: B006
    workdir: Annotated[str | None, typer.Option(help="absolute working directory for the command")] = None,
    checkpoint: Annotated[
        bool | None, typer.Option("--checkpoint/--no-checkpoint", help="the job checkpoints (it runs with CPNET_CHECKPOINT=1)", show_default=False)
    ] = None,
    preemptible: Annotated[
        bool | None,
        typer.Option("--preemptible/--no-preemptible", help="spot-like: billed at the tariff's discount, preempted before other jobs", show_default=False),
    ] = None,
    total_steps: Annotated[float | None, typer.Option(help="the job's work in steps (the scheduler's estimate)")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="resubmitting with the same key returns the same job")] = None,
    array: Annotated[
        str | None,
        typer.Option(
            metavar="INDICES",
            help="a job array, as Slurm's --array: one job per index (1-10000, 0-15:4, 1,3,5-7), each with its index in $CPNET_ARRAY_INDEX, in one request",
        ),
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a job: cpnet job submit --devices 1 -- python train.py --epochs 3, or cpnet job submit -f job.yaml.

    Prints the job's id (alone on stdout) and, on stderr, how to follow it. With --array 1-100:
    100 jobs in one transaction (POST /v1/jobs:batch), each named <name>_<index> and run with
    CPNET_ARRAY_INDEX=<index> and CPNET_ARRAY_JOB_ID=<batch id>; prints the batch id (alone on
    stdout) and, on stderr, the count and how to list them."""
    from cpnet.cli.jobfile import JobBody, load_job_file, refusal_of_file_field  # here: its pydantic model builds only for submit

    body = load_job_file(file) if file is not None else JobBody()
    if deadline is not None:
        try:
            deadline_s: float | None = unix_time(deadline)
        except ValueError as exc:
            raise InputError("--deadline", str(exc)) from None
    else:
        deadline_s = None
    flags = (
        ("command", command or None, "command (after --)"),
        ("name", name, "--name"),
        ("accelerator", accelerator, "--accelerator"),
        ("devices", devices, "--devices"),
        ("job_type", job_type, "--job-type"),
        ("priority_weight", priority_weight, "--priority-weight"),
        ("data_site", data_site, "--data-site"),
        ("data_gb", data_gb, "--data-gb"),
        ("deadline_s", deadline_s, "--deadline"),
        ("sites", site or None, "--site"),
        ("workdir", workdir, "--workdir"),
        ("checkpoint", checkpoint, "--checkpoint"),
        ("preemptible", preemptible, "--preemptible"),
        ("total_steps", total_steps, "--total-steps"),
        ("idempotency_key", idempotency_key, "--idempotency-key"),
    )
    for field_name, value, flag in flags:
        body.set_flag(field_name, value, flag)
    body.set_env(_env(env))
    if "command" not in body.fields:
        where = f" or a `command:` in {file}" if file is not None else " (or -f FILE with a `command:`)"
        raise InputError("command", f"no command to run: give it after --{where}")
    # A file's fields are checked here against the API's schema, so a problem names its line; flags alone go as they are.
    out_body = body.validate() if file is not None else dict(body.fields)
    # Same idempotency key on every retry: a retried submission never creates a second job.
    out_body.setdefault("idempotency_key", uuid.uuid4().hex)
    client = Client(url, token)
    if array is not None:
        _submit_array(client, body, out_body, array, as_json)
        return
    try:
        out = client.json("POST", "/v1/jobs", json=out_body, retries=3)
    except CpnetError as exc:
        raise refusal_of_file_field(body, exc) from None
    typer.echo(json.dumps(out) if as_json else out["id"])
    try:
        short = client.json("GET", _path(out["id"])).get("short_id") or out["id"]
    except CpnetError:
        short = out["id"]
    typer.echo(f"follow it: cpnet job logs -f {short}", err=True)


def _submit_array(client: Client, body: JobBody, spec: dict[str, Any], array: str, as_json: bool) -> None:
    """`submit --array`: the job's spec once, with its indices, in one POST /v1/jobs:batch."""
    from cpnet.cli.jobfile import refusal_of_file_field

    key = spec.pop("idempotency_key")
    try:
        r = client.request("POST", "/v1/jobs:batch", json={"spec": spec, "array": array, "idempotency_key": key}, retries=3)
    except CpnetError as exc:
        text = str(exc)
        if text.startswith("array: "):  # the server names the field; the user typed the flag
            raise InputError("--array", text.removeprefix("array: ")) from None
        # The spec's fields are named as for one job (`devices: ...`), so a file's field names its line.
        raise refusal_of_file_field(body, CpnetError(text.removeprefix("spec.").removeprefix("spec: "))) from None
    out = r.json()
    typer.echo(json.dumps(out) if as_json else out["batch_id"])
    again = ", submitted before with this idempotency key" if r.status_code == 200 else ""
    name = spec.get("name") or out["batch_id"]
    typer.echo(f"{out['count']} jobs in batch {out['batch_id']}{again}, named {name}_<index>; list them: cpnet job list --limit {out['count']}", err=True)


def _queue(client: Client, filters: dict[str, Any], offset: int, limit: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`limit` jobs from `offset` in queue order (GET /v1/dashboard/queue, in pages) and the last page's answer."""
    rows: list[dict[str, Any]] = []
    page: dict[str, Any] = {}
    while len(rows) < limit:
        params = {k: v for k, v in filters.items() if v is not None}
        params.update(offset=offset + len(rows), limit=min(QUEUE_PAGE, limit - len(rows)))
        page = client.json("GET", "/v1/dashboard/queue", params=params)
        rows += page["jobs"]
        if len(page["jobs"]) < params["limit"]:
            break
    return rows, page


def _where(j: dict[str, Any]) -> str:
    p = j.get("placement")
    if p:
        return f"{p['site']}/{p['accelerator']}"
    return f"({j['accelerator']})" if j.get("accelerator") else "-"


@job.command("list")
def list_jobs(
    all_: Annotated[bool, typer.Option("--all", "-a", help="ended jobs too (after the active ones, latest end first)")] = False,
    state: Annotated[list[str], typer.Option(help="only jobs in this state (repeatable); default running, scheduled, pending")] = [],  # noqa: B006
    since: Annotated[str | None, typer.Option(metavar="TIME", help=f"only jobs submitted since: {TIME_FORMS}")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="at most this many")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="skip this many (the next page: the offset the footer names)")] = 0,
    tenant: Annotated[str | None, typer.Option(help="admin token: only this tenant's jobs")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="print CSV (full ids, ISO times)")] = False,
) -> None:
    """Your jobs as a queue (every tenant's with an admin token): running and scheduled (latest start
    first), then pending in queue order, then with --all the ended ones (latest end first).

    Columns: id (shortest unique prefix), name, state, why it waits (or why it ended), age, elapsed
    (run time of the current attempt), devices, where (site/model; a pending job's wanted model in
    parentheses). The order is the dashboard's (GET /v1/dashboard/queue)."""
    if as_json and as_csv:
        raise InputError("--json/--csv", "give one of them")
    since_s = None if since is None else parse_time(since, "--since")
    states = list(state) or ([] if all_ else list(ACTIVE))
    rows, page = _queue(Client(url, token), {"state": states, "since": since_s, "tenant": tenant}, offset, limit)
    now = page.get("as_of_s") or time.time()
    if as_json:
        typer.echo(json.dumps(rows))
    elif as_csv:
        _csv(rows, now)
    elif rows:
        _table(rows, now)
    total = int(page.get("total", 0))
    shown_to = offset + len(rows)
    if not rows and not as_json and not as_csv:
        which = "" if all_ or state else " running, scheduled or pending (--all shows ended ones too)"
        typer.echo(f"no jobs{which}{' past that offset' if offset else ''}", err=True)
    elif shown_to < total:
        typer.echo(f"jobs {offset + 1}-{shown_to} of {total}; next page: --offset {shown_to}", err=True)


LIST_COLUMNS = ("id", "name", "state", "why", "age", "elapsed", "dev", "where")
_FLEX = {"name": 24, "why": 0, "where": 28}  # cut to fit the terminal (largest useful width; 0: any)
_RIGHT = {"age", "elapsed", "dev"}


def _cut(text: str, width: int) -> str:
    """`text` in exactly `width` terminal cells: padded, or cut with an ellipsis."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, max(0, width - 1)) + "…" if width > 0 else ""


def fit_widths(natural: dict[str, int], total: int, gap: int = 2) -> dict[str, int]:
    """Column widths within `total` cells: every column but the _FLEX ones keeps its natural width;
    those share what is left (a narrow one keeps its width, the rest split the remainder), each at
    least as wide as its header."""
    widths = {c: (min(w, _FLEX[c]) if _FLEX.get(c) else w) for c, w in natural.items()}
    room = total - gap * (len(widths) - 1) - sum(w for c, w in widths.items() if c not in _FLEX)
    flex = sorted((c for c in widths if c in _FLEX), key=lambda c: widths[c])
    for k, c in enumerate(flex):
        share = max(len(c), room // (len(flex) - k))
        widths[c] = min(widths[c], share)
        room -= widths[c]
    return widths


def _table(rows: list[dict[str, Any]], now_s: float) -> None:
    # Fits the terminal (COLUMNS, else its width, else 80): id, state, times and devices stay whole;
    # name, reason and place are cut with an ellipsis.
    cells = []
    for j in rows:
        p = j.get("placement")
        why = j.get("reason") or ""
        if j["state"] == "pending" and j.get("position"):
            why = f"#{j['position']} {why}".rstrip()
        values = (
            j.get("short_id") or j["id"],
            j.get("name") or "",
            j["state"],
            why,
            _span(now_s - j["submitted_s"], coarse=True),
            _span(_elapsed(j, now_s)),
            str(p["devices"] if p else j.get("devices", 1)),
            _where(j),
        )
        cells.append(dict(zip(LIST_COLUMNS, (" ".join(v.split()) for v in values), strict=True)))
    natural = {c: max([len(c), *(cell_len(r[c]) for r in cells)]) for c in LIST_COLUMNS}
    widths = fit_widths(natural, shutil.get_terminal_size((80, 24)).columns)
    for r in [dict(zip(LIST_COLUMNS, LIST_COLUMNS, strict=True)), *cells]:
        line = "  ".join(_cut(r[c], widths[c]) if c not in _RIGHT else r[c].rjust(widths[c]) for c in LIST_COLUMNS)
        typer.echo(line.rstrip())


def _iso(t_s: float | None) -> str:
    return "" if t_s is None else datetime.fromtimestamp(t_s).astimezone().isoformat(timespec="seconds")


def _csv(rows: list[dict[str, Any]], now_s: float) -> None:
    out = []
    for j in rows:
        p = j.get("placement") or {}
        elapsed = _elapsed(j, now_s)
        values = [
            j["id"],
            j.get("short_id") or j["id"],
            j.get("name"),
            j["tenant"],
            j["state"],
            j.get("reason"),
            j.get("position"),
            j.get("tenant_position"),
            _iso(j["submitted_s"]),
            _iso(j.get("started_s")),
            _iso(j.get("finished_s")),
            None if elapsed is None else round(elapsed, 3),
            p.get("devices", j.get("devices", 1)),
            p.get("site"),
            p.get("accelerator", j.get("accelerator")),
            j.get("exit_code"),
        ]
        out.append(dict(zip(CSV_COLUMNS, values, strict=True)))
    typer.echo(csv_text(out, CSV_COLUMNS), nl=False)


def _attempts_table(attempts: list[dict[str, Any]]) -> Table:
    """Each attempt: where, on what, when, for how long, its device-seconds and energy (`--json` has their sources)."""
    table = Table("#", "site", "model", "dev", "started", "ran", "device-s", "kWh", box=None, pad_edge=False, header_style="bold")
    for col in table.columns:
        col.no_wrap = True
    now = time.time()
    for a in attempts:
        ran = (a["end_s"] if a.get("end_s") is not None else now) - a["start_s"]
        kwh = "-" if a.get("energy_kwh") is None else f"{a['energy_kwh']:.3g}"
        table.add_row(str(a["attempt"]), a["site"], a["accelerator"], str(a["devices"]), _local(a["start_s"]), _span(ran), f"{a['device_s']:.1f}", kwh)
    return table


@job.command("show")
def show(job_id: JobArg, url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """A job's name, state, what it asked for, placement, times (local), exit code, its attempts
    (site, model, device-seconds, energy) and its event history."""
    client = Client(url, token)
    j = client.json("GET", _path(job_id))
    events = client.json("GET", _path(j["id"]) + "/events")["events"]
    attempts = client.json("GET", _path(j["id"]) + "/attempts")["attempts"]
    if as_json:
        typer.echo(json.dumps({**j, "events": events, "attempts": attempts}))
        return
    con = Console(highlight=False)
    now = time.time()
    short = j.get("short_id") or j["id"]
    con.print(f"[bold]{j['id']}[/bold] ({short})" + (f"  [bold]{j['name']}[/bold]" if j.get("name") else ""), soft_wrap=True)
    con.print(f"tenant {j['tenant']}  state [bold]{j['state']}[/bold]  attempt {j['attempt']}")
    con.print(f"command: {' '.join(j['command'])}", markup=False, soft_wrap=True)
    wants = [f"{j['devices']} x {j.get('accelerator') or 'any model'}", f"at {', '.join(j['sites'])}" if j.get("sites") else "at any site"]
    if j.get("data_site"):
        wants.append(f"data {j.get('data_gb', 0):g} GB at {j['data_site']}")
    if j.get("deadline_s") is not None:
        wants.append(f"deadline {_local(j['deadline_s'])}")
    if j.get("checkpoint"):
        wants.append("checkpointing")
    if j.get("preemptible"):
        wants.append("preemptible")
    con.print("wants: " + "; ".join(wants), markup=False)
    p = j["placement"]
    if p:
        con.print(f"placement: {p['devices']} x {p['accelerator']} at {p['site']}{' (emulated)' if p['emulated'] else ''}", markup=False)
    con.print(f"submitted: {_local(j['submitted_s'])} ({_span(now - j['submitted_s'])} ago)")
    if j.get("started_s") is not None:
        con.print(f"started:   {_local(j['started_s'])} (after {_span(j['started_s'] - j['submitted_s'])})")
    if j.get("finished_s") is not None:
        ran = _elapsed(j, now)
        con.print(f"finished:  {_local(j['finished_s'])}" + (f" (ran {_span(ran)})" if ran is not None else ""))
    elif j["state"] == "running":
        con.print(f"running for {_span(_elapsed(j, now))}")
    if j["exit_code"] is not None:
        con.print(f"exit code: {j['exit_code']}")
    if j["reason"]:
        con.print(f"reason: {j['reason']}", markup=False)
    if j.get("position") is not None:
        con.print(f"queue: #{j['position']} in the network, #{j['tenant_position']} of tenant {j['tenant']}'s (pending jobs in submission order)")
    if attempts:
        con.print(_attempts_table(attempts))
    table = Table("time", "event", "state", "message", box=None, pad_edge=False, header_style="bold")
    table.columns[0].no_wrap = True
    for e in events:
        table.add_row(_local(e["t_s"]), e["kind"], f"{e['from_state'] or ''} -> {e['to_state'] or ''}" if e["to_state"] else "", e["message"])
    con.print(table)


@job.command("attempts")
def attempts(job_id: JobArg, url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """A job's attempts: site, model, devices, times (local), device-seconds and energy."""
    rows = Client(url, token).json("GET", _path(job_id) + "/attempts")["attempts"]
    if as_json:
        typer.echo(json.dumps(rows))
    elif rows:
        Console(highlight=False).print(_attempts_table(rows))
    else:
        typer.echo("no attempts yet (the job has not started)", err=True)


@job.command("logs")
def logs(
    job_id: JobArg,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="keep printing until the job ends")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print a job's output (stdout and stderr)."""
    client, offset = Client(url, token), 0
    path = _path(client.json("GET", _path(job_id))["id"])  # resolved once: a prefix stays this job's while followed
    while True:
        r = client.request("GET", path + "/logs", params={"offset": offset})
        sys.stdout.buffer.write(r.content)
        sys.stdout.flush()
        offset = int(r.headers["X-Next-Offset"])
        if not follow or (r.headers["X-Job-State"] in TERMINAL and not r.content):
            return
        if not r.content:
            time.sleep(0.5)


@job.command("cancel")
def cancel(job_id: JobArg, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Cancel a job; a running job's process group is terminated."""
    out = Client(url, token).json("POST", _path(job_id) + "/cancel")
    typer.echo(f"{out['id']} {out['state']}")


def register(app: typer.Typer) -> None:
    app.add_typer(job, name="job")
