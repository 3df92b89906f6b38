"""`cpnet job` through the real CLI against a real `cpnet serve` (east-data-west-compute scenario,
simulated executor) over SQLite and PostgreSQL: job files (schema errors naming file, line and field;
flags over file fields; --name), the queue view (order, 80 columns, --all/--state/--since, paging,
--json/--csv), short ids and prefixes (unique, ambiguous, another tenant's), and `job show`."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cpnet.scenario import load_scenario
from live_server import CPNET, Server, database_for, free_port

SCENARIO = "east-data-west-compute"
ID = re.compile(r"^j-[0-9a-f]{16}$")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp(f"jobcli-{request.param}")
    port = free_port()
    s = Server(f"http://127.0.0.1:{port}", database_for(request, request.param, data), data, port)
    s.start("--scenario", SCENARIO, "--executor", "simulated")
    yield s
    s.stop()


def cli(url: str, token: str, *args: str, columns: int = 80, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CPNET_URL": url, "CPNET_TOKEN": token, "CPNET_CONFIG": "/nonexistent/cpnet.yaml", "COLUMNS": str(columns)}
    return subprocess.run([*CPNET, *args], capture_output=True, text=True, env=env, timeout=60, cwd=cwd)


def ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, out.stderr
    return out.stdout


def submit(srv: Server, token: str, **spec: Any) -> str:
    with srv.client(token) as c:
        r = c.post("/v1/jobs", json={"command": ["train"], **spec})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def job(srv: Server, token: str, job_id: str) -> dict[str, Any]:
    with srv.client(token) as c:
        r = c.get(f"/v1/jobs/{job_id}")
        r.raise_for_status()
        return dict(r.json())


def wait_state(srv: Server, token: str, job_id: str, states: set[str], timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (j := job(srv, token, job_id))["state"] not in states:
        assert time.monotonic() < deadline, f"{job_id} never reached {states}: {j}"
        time.sleep(0.1)
    return j


def cancel_all(srv: Server, token: str, ids: list[str]) -> None:
    with srv.client(token) as c:
        for j in ids:
            c.post(f"/v1/jobs/{j}/cancel")


def pool(index: int) -> tuple[str, str, int]:
    """(site, model, devices) of the scenario's `index`-th site's largest pool."""
    site = load_scenario(SCENARIO).sites[index]
    model, n = max(site.inventory.items(), key=lambda kv: kv[1])
    return site.id, model, n


BAD_FILES = [
    ('name: x\ncommand: [train]\ndevices: "2"\n', 3, "devices", "valid integer"),
    ("name: x\ncommand: [train]\ndevics: 2\n", 3, "devics", "unknown field 'devics'; expected one of: name, command"),
    ("command: [train]\ndevices: 0\n", 2, "devices", "greater than or equal to 1"),  # the API's own bound
    ("command: train\nenv:\n  GOOD: 1\n  bad-key: x\n", 4, "env.bad-key", "pattern"),
    ("command: [train]\naccelerator: [A100, H100]\n", 2, "accelerator", "one accelerator model per job"),
    ('name: "tab\\there"\ncommand: [train]\n', 1, "name", "control characters"),
    ("command: [train]\ndeadline: 2030-01-01\n", 2, "deadline", "is a date"),
    ("command: 'train \"unclosed'\n", 1, "command", "No closing quotation"),
]


@pytest.mark.parametrize(("text", "line", "field", "why"), BAD_FILES)
def test_a_job_file_schema_error_is_one_line_naming_file_line_and_field(tmp_path: Path, text: str, line: int, field: str, why: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    # No server listens there: the file is refused before any request is made.
    out = cli(f"http://127.0.0.1:{free_port()}", "cpt_x", "job", "submit", "-f", str(path))
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and out.stdout == "", out.stderr
    assert f"{path}, line {line}, field '{field}'" in lines[0] and why in lines[0], lines[0]
    assert "cannot reach" not in lines[0] and "Traceback" not in out.stderr


def test_the_bundled_example_job_file_is_valid(tmp_path: Path) -> None:
    from cpnet.cli.jobfile import load_job_file

    body = load_job_file(str(Path(__file__).parents[2] / "examples" / "job.yaml"))
    fields = body.validate()
    assert fields["name"] == "checkpointing-demo" and fields["checkpoint"] is True and fields["command"][0] == "python3"


def test_flags_override_the_job_file_and_name_is_kept(srv: Server, tmp_path: Path) -> None:
    token = srv.tenant("file-a")
    site, model, _ = pool(1)
    path = tmp_path / "job.yaml"
    path.write_text(
        "name: from-file\n"
        "command: train --epochs 3 'two words'\n"
        f"accelerator: [{model}]\n"
        "devices: 4\n"
        f"sites: [{site}]\n"
        "env: {A: 1, B: file}\n"
        "checkpointing: on\n"
        "preemptible: on\n"
        "deadline: 2030-06-01T18:00:00+08:00\n"
        "total_steps: 1000000000\n"
        "priority_weight: 2\n"
    )
    out = cli(srv.url, token, "job", "submit", "-f", str(path), "--name", "from-flag", "--devices", "2", "--env", "B=flag")
    job_id = ok(out).strip()
    assert ID.match(job_id) and out.stdout == job_id + "\n"  # stdout is the id alone
    hint = out.stderr.strip().splitlines()[-1]
    short = hint.removeprefix("follow it: cpnet job logs -f ")
    assert hint.startswith("follow it: cpnet job logs -f ") and len(short) >= 6 and job_id[2:].startswith(short), out.stderr
    try:
        j = job(srv, token, job_id)
        assert j["name"] == "from-flag" and j["devices"] == 2  # the flags won
        assert j["command"] == ["train", "--epochs", "3", "two words"] and j["accelerator"] == model and j["sites"] == [site]
        assert j["env"] == {"A": "1", "B": "flag", "CPNET_CHECKPOINT": "1"} and j["checkpoint"] is True and j["preemptible"] is True
        shown = ok(cli(srv.url, token, "job", "show", job_id))
        assert "checkpointing" in shown and "preemptible" in shown, shown
        assert j["deadline_s"] == datetime.fromisoformat("2030-06-01T18:00:00+08:00").timestamp()
        assert j["total_steps"] == 1e9 and j["priority_weight"] == 2.0 and j["short_id"] == short

        plain = ok(cli(srv.url, token, "job", "submit", "--name", "just-a-flag", "--total-steps", "1", "--", "train")).strip()
        assert (
            job(srv, token, plain)["name"] == "just-a-flag" and job(srv, token, plain)["checkpoint"] is False and job(srv, token, plain)["preemptible"] is False
        )
        with srv.client(token) as c:
            names = {s["id"]: s["name"] for s in c.get("/v1/jobs").json()["jobs"]}  # the summaries carry the name
        assert names == {job_id: "from-flag", plain: "just-a-flag"}

        # a refusal by the server of a file's field names the file's line too
        path.write_text("command: [train]\naccelerator: NoSuchModel\n")
        bad = cli(srv.url, token, "job", "submit", "-f", str(path))
        assert bad.returncode == 2 and f"{path}, line 2, field 'accelerator': unknown accelerator 'NoSuchModel'" in bad.stderr, bad.stderr
    finally:
        cancel_all(srv, token, [job_id])


def _rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines()[1:]]


def test_list_shows_active_jobs_first_in_80_columns_and_pages(srv: Server) -> None:
    token = srv.tenant("list-a")
    site, model, n = pool(0)
    long_name = "a-rather-long-job-name-" + "x" * 40
    done = submit(srv, token, name=long_name, total_steps=1)
    wait_state(srv, token, done, {"succeeded"})
    gone = submit(srv, token, name="gone", total_steps=1e9)
    cancel_all(srv, token, [gone])
    hog = submit(srv, token, name="hog", accelerator=model, devices=n, sites=[site], total_steps=1e9)
    made = [hog]
    try:
        wait_state(srv, token, hog, {"running"})
        waiting = [submit(srv, token, name=f"wait-{i}", accelerator=model, devices=n, sites=[site]) for i in range(2)]
        made += waiting
        # why each waits: the reconciler writes the scheduler's reason after its next decision
        want = f"capacity: wants {n} device{'s' if n != 1 else ''}; none free in its 1 usable pool"
        deadline = time.monotonic() + 20
        while [job(srv, token, w)["reason"] for w in waiting] != [want, want]:
            assert time.monotonic() < deadline, [job(srv, token, w) for w in waiting]
            time.sleep(0.1)

        table = ok(cli(srv.url, token, "job", "list", columns=80))
        lines = table.splitlines()
        assert lines[0].split() == ["id", "name", "state", "why", "age", "elapsed", "dev", "where"]
        assert all(len(line) <= 80 for line in lines), "\n" + table
        shorts = [r[0] for r in _rows(table)]
        # active only by default: running first, then pending in queue order; each id its unique short form
        assert len(shorts) == 3 and [s for s in shorts if len(s) >= 6] == shorts
        assert [r[2] for r in _rows(table)] == ["running", "pending", "pending"], table
        assert [f"j-{s}" for s in shorts] == [i[: 2 + len(s)] for i, s in zip([hog, *waiting], shorts, strict=True)]
        assert f"{site}/{model}"[:10] in lines[1] and "hog" in lines[1]
        assert [r[3] for r in _rows(table)][1:] == ["#1", "#2"] and all("capac" in line for line in lines[2:]), table
        assert f"#1 {want}" in ok(cli(srv.url, token, "job", "list", columns=200)).splitlines()[2]

        everything = ok(cli(srv.url, token, "job", "list", "--all", columns=80))
        rows = _rows(everything)
        assert all(len(line) <= 80 for line in everything.splitlines()), "\n" + everything
        assert [r[2] for r in rows] == ["running", "pending", "pending", "cancelled", "succeeded"], everything
        assert "…" in everything.splitlines()[-1] and long_name not in everything  # the long name is cut to fit
        wide = ok(cli(srv.url, token, "job", "list", "--all", columns=200))
        assert long_name[: 24 - 1] in wide and all(len(line) <= 200 for line in wide.splitlines())

        as_json = json.loads(ok(cli(srv.url, token, "job", "list", "--all", "--json")))
        assert [j["id"] for j in as_json] == [hog, *waiting, gone, done]
        assert [j["name"] for j in as_json] == ["hog", "wait-0", "wait-1", "gone", long_name]
        pending = json.loads(ok(cli(srv.url, token, "job", "list", "--state", "pending", "--state", "cancelled", "--json")))
        assert [j["id"] for j in pending] == [*waiting, gone]

        first = cli(srv.url, token, "job", "list", "--all", "--limit", "2")
        assert [r[0] for r in _rows(ok(first))] == shorts[:2] and "next page: --offset 2" in first.stderr
        second = cli(srv.url, token, "job", "list", "--all", "--limit", "2", "--offset", "2")
        assert [r[2] for r in _rows(ok(second))] == ["pending", "cancelled"] and "--offset 4" in second.stderr
        last = cli(srv.url, token, "job", "list", "--all", "--limit", "2", "--offset", "4")
        assert [r[2] for r in _rows(ok(last))] == ["succeeded"] and "next page" not in last.stderr

        rows_csv = list(csv.DictReader(io.StringIO(ok(cli(srv.url, token, "job", "list", "--all", "--csv")))))
        assert [r["id"] for r in rows_csv] == [hog, *waiting, gone, done] and rows_csv[-1]["exit_code"] == "0"
        assert rows_csv[0]["site"] == site and rows_csv[0]["accelerator"] == model and rows_csv[0]["devices"] == str(n)
        assert datetime.fromisoformat(rows_csv[-1]["submitted"]).timestamp() == pytest.approx(job(srv, token, done)["submitted_s"], abs=1)

        recent = json.loads(ok(cli(srv.url, token, "job", "list", "--all", "--since", "1h", "--json")))
        assert len(recent) == 5
        later = datetime.fromtimestamp(time.time() + 3600).isoformat(timespec="seconds")
        none = cli(srv.url, token, "job", "list", "--all", "--since", later)
        assert ok(none) == "" and "no jobs" in none.stderr
        bad = cli(srv.url, token, "job", "list", "--since", "yesterdayish")
        assert bad.returncode == 2 and "--since" in bad.stderr and "2h" in bad.stderr
    finally:
        cancel_all(srv, token, made)


def test_prefixes_resolve_within_the_callers_jobs_only(srv: Server) -> None:
    token, other = srv.tenant("prefix-a"), srv.tenant("prefix-b")
    ids = [submit(srv, token, total_steps=1) for _ in range(17)]  # 17 ids: two share a first hex digit
    digit = next(d for d in "0123456789abcdef" if sum(i[2] == d for i in ids) >= 2)
    sharing = sorted(i for i in ids if i[2] == digit)
    for i in ids:
        wait_state(srv, token, i, {"succeeded"})

    listed = json.loads(ok(cli(srv.url, token, "job", "list", "--all", "--json", "--limit", "100")))
    shorts = {j["id"]: j["short_id"] for j in listed}
    assert set(shorts) == set(ids)
    for full, short in shorts.items():  # shortest unique: unique, and one digit less would not be (or it is the minimum, 6)
        assert full[2:].startswith(short) and len(short) >= 6 and [i for i in ids if i[2:].startswith(short)] == [full]
        assert len(short) == 6 or sum(i[2:].startswith(short[:-1]) for i in ids) > 1

    target = sharing[0]
    short = shorts[target]
    for name in (short, f"j-{short}", target, target[:12].upper()):
        shown = ok(cli(srv.url, token, "job", "show", name))
        assert shown.splitlines()[0].startswith(f"{target} ({short})"), (name, shown)
    assert json.loads(ok(cli(srv.url, token, "job", "attempts", short, "--json")))[0]["attempt"] == 1
    assert ok(cli(srv.url, token, "job", "logs", short)) == ""  # the simulated executor writes no log
    ended = cli(srv.url, token, "job", "cancel", short)
    assert ended.returncode == 2 and f"job '{target}' already ended (succeeded)" in ended.stderr

    ambiguous = cli(srv.url, token, "job", "show", digit)
    lines = ambiguous.stderr.strip().splitlines()
    assert ambiguous.returncode == 2 and len(lines) == 1 and "several" in lines[0] and all(i in lines[0] for i in sharing[:10]), ambiguous.stderr
    with srv.client(token) as c:
        r = c.get(f"/v1/jobs/j-{digit}")
        assert r.status_code == 409 and r.json()["candidates"] == sharing[:10]

    # another tenant: neither a prefix nor the full id of these jobs names anything, and no 409 tells it they exist
    for name in (short, target, digit):
        out = cli(srv.url, other, "job", "show", name)
        assert out.returncode == 2 and out.stderr == f"error: no job '{name}'\n", out.stderr
    with srv.client(other) as c:
        assert c.get(f"/v1/jobs/{digit}").status_code == 404 and c.post(f"/v1/jobs/{short}/cancel").status_code == 404
        assert c.get(f"/v1/jobs/{short}/logs").status_code == 404 and c.get(f"/v1/jobs/{short}/events").status_code == 404


def test_show_prints_local_times_exit_code_and_attempts(srv: Server) -> None:
    token = srv.tenant("show-a")
    done = submit(srv, token, name="shown", total_steps=1)
    j = wait_state(srv, token, done, {"succeeded"})
    shown = ok(cli(srv.url, token, "job", "show", j["short_id"], columns=200))
    assert all(len(line) <= 80 for line in ok(cli(srv.url, token, "job", "show", j["short_id"], columns=80)).splitlines())
    with srv.client(token) as c:
        attempts = c.get(f"/v1/jobs/{done}/attempts").json()["attempts"]
    a = attempts[0]
    assert len(attempts) == 1
    assert "shown" in shown.splitlines()[0]
    assert f"submitted: {datetime.fromtimestamp(j['submitted_s']):%Y-%m-%d %H:%M:%S}" in shown
    assert f"finished:  {datetime.fromtimestamp(j['finished_s']):%Y-%m-%d %H:%M:%S} (ran " in shown
    assert "exit code: 0" in shown
    row = next(line.split() for line in shown.splitlines() if line.startswith("1 "))
    assert row[:4] == ["1", a["site"], a["accelerator"], str(a["devices"])] and f"{a['device_s']:.1f}" in row, shown
    assert f"{datetime.fromtimestamp(a['start_s']):%Y-%m-%d}" in row

    as_json = json.loads(ok(cli(srv.url, token, "job", "show", done, "--json")))
    assert as_json["attempts"] == attempts and as_json["events"][0]["kind"] == "submitted" and as_json["name"] == "shown"

    # a job that never ran: no exit code line, no attempts
    site, model, n = pool(0)
    hog = submit(srv, token, accelerator=model, devices=n, sites=[site], total_steps=1e9)
    made = [hog]
    try:
        wait_state(srv, token, hog, {"running"})
        made.append(pending := submit(srv, token, accelerator=model, devices=n, sites=[site]))
        text = ok(cli(srv.url, token, "job", "show", pending))
        assert "state pending" in text and "exit code" not in text and "#  site" not in text and "started:" not in text, text
        assert "no attempts yet" in cli(srv.url, token, "job", "attempts", pending).stderr
    finally:
        cancel_all(srv, token, made)


def test_an_unknown_job_is_one_line(srv: Server) -> None:
    token = srv.tenant("unknown-a")
    for name in ("j-0000000000000000", "zzz", "0"):
        out = cli(srv.url, token, "job", "show", name)
        assert out.returncode == 2 and out.stderr.strip() == f"error: no job '{name}'", out.stderr
    assert httpx.get(f"{srv.url}/v1/jobs/0", headers={"Authorization": f"Bearer {token}"}).status_code == 404
