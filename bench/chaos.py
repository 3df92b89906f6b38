"""Chaos benchmark of the control plane (not a test): N `kill -9`s of a real `cpnet serve`.

Starts `cpnet serve` (local executor, SQLite or a temporary PostgreSQL) in a temporary data
directory, creates a tenant, and runs K submitter threads that POST /v1/jobs with idempotency
keys. Each job is `sh -c` that appends "start <job> <attempt> <pid> <ns>" and, after
--job-seconds, "end <job> <attempt> <pid> <ns>" to a marks file (O_APPEND, one write per line),
so every process start is recorded independently of the server. Then, N times:

- random kill: after a seeded random pause, SIGKILL of the server's whole process group (the
  leader and its API workers; jobs run in sessions of their own and survive);
- window kill (share --window-kills): watch the database for a job in `scheduled` with no handle
  (placement committed, RUNNING not yet) and kill at once ("scheduled" trigger), or spin until
  such a job's process exists (its tagged wrapper appears in /proc, or its start mark) and kill at
  once ("started" trigger: the process exists, the RUNNING commit does not). Whether a kill hit
  the window is read from the database right after it (a job in `scheduled` with no handle).
  With --window-restart after-end the restart waits until the jobs caught in the window have
  ended, so the new server finds only their exit files: the window of issue 7, finding 1;

and restarts the server, which must answer /healthz within --restart-timeout-s and stay alive
for --settle-s (a server that comes up and then kills itself counts as a failed restart; the
server log tail is printed to stderr and kept in the JSON). Submitters retry the same key on
connection errors, so a job may be acknowledged after the restart. At the end submission stops,
the queue drains (every acknowledged job terminal) and one JSON object is printed:
kills, window_kills_hit, acknowledged, stored, lost, ran_twice, duplicate_runs, stuck, failed,
restarts_failed, drain_time_s, wall_s, ... and the config. Exit status 1 when the target
(every kill done, 0 lost, 0 ran twice, 0 stuck, 0 failed restarts, the queue drained, no 5xx
answer to a submission, no failed job: the bench's jobs cannot fail by themselves) is missed.

    .venv/bin/python bench/chaos.py --kills 20
    .venv/bin/python bench/chaos.py --kills 20 --backend postgres --workers 1 --out chaos-pg.json

Run as root, the server runs jobs as the tenant's own user: the temporary directory is 0711 and
the marks file sits in a sticky world-writable directory inside it. The servers run whatever
`cpnet` Python imports, so PYTHONPATH=<other checkout>/src benchmarks another version (the
config records the SHA-256 of the executor and reconciler sources that ran).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CPNET = [sys.executable, "-m", "cpnet.cli.main"]
TERMINAL = ("succeeded", "failed", "cancelled")


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_stat(pid: int | str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on


def _environ(pid: int | str) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = _proc_stat(d)
            if f is not None and f[0] not in ("Z", "X") and f[2] == str(pgid):
                out.append(int(d))
    return out


def _job_processes(run_dir: Path) -> dict[int, tuple[str, str]]:
    """Live processes of this run's jobs: pid -> (job id, attempt), by the tag the local executor
    sets (CPNET_JOB_ID, CPNET_ATTEMPT) and an exit-file path under this run's data directory."""
    out = {}
    prefix = str(run_dir) + os.sep
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        f = _proc_stat(d)
        if f is None or f[0] in ("Z", "X"):
            continue
        env = _environ(d)
        if "CPNET_JOB_ID" in env and env.get("CPNET_EXIT_FILE", "").startswith(prefix):
            out[int(d)] = (env["CPNET_JOB_ID"], env.get("CPNET_ATTEMPT", ""))
    return out


def _last_pid() -> int:
    """The pid most recently handed out on this machine (/proc/loadavg's last field)."""
    try:
        return int(Path("/proc/loadavg").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return 0


def _pid_range(old: int, new: int) -> list[int]:
    """Pids handed out after `old` up to `new` (pids wrap around at pid_max)."""
    if new >= old:
        return list(range(old + 1, new + 1))
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 4194304
    return list(range(old + 1, pid_max + 1))[-1000:] + list(range(1, new + 1))


def _sha(module: str) -> str | None:
    """First 12 hex digits of the SHA-256 of the source the servers run (PYTHONPATH may point elsewhere)."""
    try:
        spec = importlib.util.find_spec(module)
        return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()[:12] if spec and spec.origin else None
    except (ImportError, OSError):
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# -- marks: every process start and end, written by the jobs themselves -----------------------------
@dataclass
class Run:
    attempt: int
    pid: int
    start_ns: int
    end_ns: int | None = None


class Marks:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.touch()
        self._offset = 0
        self._rest = b""
        self.runs: dict[str, list[Run]] = defaultdict(list)
        self.bad_lines: list[str] = []

    def poll(self) -> list[tuple[str, int]]:
        """Read what was appended; returns the (job, attempt) of new start marks."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return []
        if not data:
            return []
        self._offset += len(data)
        data = self._rest + data
        lines = data.split(b"\n")
        self._rest = lines.pop()  # an incomplete last line waits for its end
        started = []
        for raw in lines:
            parts = raw.decode(errors="replace").split()
            if len(parts) != 5 or parts[0] not in ("start", "end") or not all(p.isdigit() for p in parts[2:]):
                self.bad_lines.append(raw.decode(errors="replace"))
                continue
            kind, job, attempt, pid, ns = parts[0], parts[1], int(parts[2]), int(parts[3]), int(parts[4])
            if kind == "start":
                self.runs[job].append(Run(attempt, pid, ns))
                started.append((job, attempt))
            else:
                for r in reversed(self.runs[job]):
                    if r.attempt == attempt and r.pid == pid and r.end_ns is None:
                        r.end_ns = ns
                        break
                else:
                    self.bad_lines.append(raw.decode(errors="replace"))
        return started

    def started(self, job: str, attempt: int) -> bool:
        return any(r.attempt == attempt for r in self.runs.get(job, ()))

    def ended(self, job: str, attempt: int) -> bool:
        return any(r.attempt == attempt and r.end_ns is not None for r in self.runs.get(job, ()))


# -- the server under test ----------------------------------------------------------------------
class Server:
    def __init__(self, db: str, data: Path, port: int, workers: int, interval_s: float, extra: list[str]) -> None:
        self.db, self.data, self.port, self.workers, self.interval_s = db, data, port, workers, interval_s
        self.extra = extra
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = data / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_at = 0.0
        self._log_offset = 0

    def start(self) -> None:
        self.starts += 1
        with open(self.log_path, "ab") as f:
            f.write(f"\n===== chaos: start #{self.starts} at {time.strftime('%H:%M:%S')} =====\n".encode())
            self._log_offset = f.tell()
        cmd = [
            *CPNET,
            "serve",
            "--db",
            self.db,
            "--data-dir",
            str(self.data),
            "--port",
            str(self.port),
            "--executor",
            "local",
            "--interval-s",
            str(self.interval_s),
            "--workers",
            str(self.workers),
            *self.extra,
        ]
        # Its own session and process group: a kill of the group takes the leader and its API
        # workers, never this script (a server that signals its own group cannot reach us either).
        with open(self.log_path, "ab") as log_f:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_f, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(self.data))
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait_healthy(self, timeout_s: float) -> str | None:
        """None when /healthz answers 200; otherwise why not."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                return f"exited with {self.returncode()} before answering /healthz"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return f"no /healthz answer within {timeout_s:g} s"

    def kill(self) -> None:
        """SIGKILL the whole process group and wait until none of it is left."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        deadline = time.monotonic() + 10
        while _group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> bool:
        """SIGTERM; True if it stopped by itself within 20 s (else SIGKILL of the group)."""
        if not self.alive():
            return self.proc is None or self.proc.returncode == 0
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(20)
            ok = True
        except subprocess.TimeoutExpired:
            ok = False
        self.kill()
        return ok

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the current start wrote to the log."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# -- submitters -----------------------------------------------------------------------------------
@dataclass
class Ledger:
    """What the submitters were told: idempotency key -> job id, for every 2xx."""

    acked: dict[str, str] = field(default_factory=dict)
    retried_acks: int = 0  # acknowledged only after one or more retries of the same key
    errors: Counter[str] = field(default_factory=Counter)
    mismatched: list[str] = field(default_factory=list)  # a key answered with two different ids
    abandoned: list[str] = field(default_factory=list)  # keys never acknowledged (retries ran out)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, key: str, job_id: str, retried: bool) -> None:
        with self.lock:
            old = self.acked.setdefault(key, job_id)
            if old != job_id:
                self.mismatched.append(key)
            if retried:
                self.retried_acks += 1

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] += 1


def _submitter(
    idx: int, url: str, token: str, command: list[str], interval_s: float, seed: int, stop: threading.Event, settle_by: list[float], ledger: Ledger
) -> None:
    rng = random.Random(f"{seed}-submitter-{idx}")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=5) as client:
        n = 0
        while not stop.is_set():
            key = f"s{idx}-{n}"
            body = {"command": command, "idempotency_key": key}
            tries = 0
            while True:
                tries += 1
                try:
                    r = client.post("/v1/jobs", json=body)
                except httpx.HTTPError as exc:
                    ledger.error(type(exc).__name__)
                    r = None
                if r is not None and 200 <= r.status_code < 300:
                    ledger.ack(key, r.json()["id"], tries > 1)
                    break
                pause = 0.2
                if r is not None:
                    ledger.error(f"HTTP {r.status_code}")
                    if 400 <= r.status_code < 500 and r.status_code not in (408, 429):
                        break  # refused: not a crash artefact; not retried
                    try:  # a rate limit says when to come back
                        pause = min(max(float(r.headers.get("Retry-After", pause)), 0.2), 5.0)
                    except ValueError:
                        pass
                # Not acknowledged: retry the same key (after the restart, if the server is down).
                # Once submission has stopped, keep trying until the settle deadline so that every
                # job a crash may have stored is either acknowledged or reported as abandoned.
                if stop.is_set() and time.monotonic() > settle_by[0]:
                    with ledger.lock:
                        ledger.abandoned.append(key)
                    break
                time.sleep(pause)
            n += 1
            stop.wait(interval_s * rng.uniform(0.5, 1.5))


# -- the run ----------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.t0 = time.monotonic()
        # Jobs run as the tenant's own user (cpnet.executors.sandbox, when the server is root): the
        # base is enterable by others (0711), the marks file lives in a sticky world-writable
        # directory, the server's data directory beside it is the server's own business.
        self.base = Path(tempfile.mkdtemp(prefix="cpnet-chaos-"))
        os.chmod(self.base, 0o711)
        shared = self.base / "shared"
        shared.mkdir()
        os.chmod(shared, 0o1777)
        self.data = self.base / "data"
        self.data.mkdir()
        self.run_dir = self.data / "runs"
        self.marks = Marks(shared / "marks.log")
        os.chmod(self.marks.path, 0o666)
        self.pg: Any = None
        self.server: Server | None = None
        self.store: Any = None
        self.ledger = Ledger()
        self.stop_submit = threading.Event()
        self.settle_by = [float("inf")]
        self.threads: list[threading.Thread] = []
        self.kill_log: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []  # restarts that did not come up (or did not stay up)
        self.aborted: str | None = None
        self.trigger: dict[str, Any] = {}  # what fired the last 'started' window kill
        self.started_at_iso = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        # the sources the servers run, read at the start (a tree edited during the run may differ later)
        self.source_shas = {"local_py_sha": _sha("cpnet.executors.local"), "reconciler_py_sha": _sha("cpnet.control.reconciler")}

    # database reads, straight from the store (not through the API)
    def _scheduled_without_handle(self) -> list[tuple[str, int]]:
        from sqlalchemy import and_, select

        from cpnet.control.store import schema as t

        q = select(t.jobs.c.id, t.jobs.c.attempt).where(and_(t.jobs.c.state == "scheduled", t.jobs.c.handle.is_(None)))
        with self.store.engine.connect() as c:
            return [(r.id, int(r.attempt)) for r in c.execute(q)]

    def _states(self, ids: set[str] | None = None) -> dict[str, Any]:
        from sqlalchemy import select

        from cpnet.control.store import schema as t

        q = select(t.jobs.c.id, t.jobs.c.idempotency_key, t.jobs.c.state, t.jobs.c.attempt, t.jobs.c.reason, t.jobs.c.exit_code, t.jobs.c.lost_count)
        with self.store.engine.connect() as c:
            return {r.id: r for r in c.execute(q) if ids is None or r.id in ids}

    def setup(self) -> None:
        from cpnet.control.store import Store

        a = self.args
        if a.backend == "postgres":
            from cpnet.control.store.tempserver import TemporaryPostgres

            self.pg = TemporaryPostgres()  # assigned before start(): cleanup removes its directory even if start fails
            self.pg.start()
            db = self.pg.create_database("chaos")
        else:
            db = f"sqlite:///{self.data / 'cpnet.db'}"
        self.store = Store(db, pool_size=2)
        self.store.migrate()
        self.token = self.store.create_tenant("chaos", 1.0, time.time())
        self.server = Server(db, self.data, _free_port(), a.workers, a.interval_s, list(a.serve_arg))
        script = (
            f"echo start $CPNET_JOB_ID $CPNET_ATTEMPT $$ $(date +%s%N) >> {shlex.quote(str(self.marks.path))}; "
            f"sleep {a.job_seconds:g}; "
            f"echo end $CPNET_JOB_ID $CPNET_ATTEMPT $$ $(date +%s%N) >> {shlex.quote(str(self.marks.path))}"
        )
        self.command = ["sh", "-c", script]
        cpus = os.cpu_count() or 1
        if a.submit_interval_s is None:  # offered load: about half of what the local executor can run
            rate = 0.5 * cpus / (a.job_seconds + a.interval_s)
            a.submit_interval_s = round(a.submitters / rate, 3)

    def start_server(self, why: str) -> bool:
        """Start (and retry) until the server answers and stays up for --settle-s; False if it never does."""
        assert self.server is not None
        for attempt in range(1, self.args.restart_tries + 1):
            t = time.monotonic()
            self.server.start()
            problem = self.server.wait_healthy(self.args.restart_timeout_s)
            if problem is None:
                settle_until = time.monotonic() + self.args.settle_s
                while time.monotonic() < settle_until and self.server.alive():
                    time.sleep(0.05)
                if not self.server.alive():
                    problem = f"answered /healthz, then exited with {self.server.returncode()} within {self.args.settle_s:g} s"
            if problem is None:
                return True
            tail = self.server.log_tail()
            self.failures.append(
                {
                    "after": why,
                    "try": attempt,
                    "problem": problem,
                    "returncode": self.server.returncode(),
                    "up_s": round(time.monotonic() - t, 2),
                    "log_tail": tail,
                }
            )
            log(f"restart after {why} FAILED (try {attempt}/{self.args.restart_tries}): {problem}\n--- server log tail ---\n{tail}\n---")
            if self.server.alive():
                self.server.kill()
        return False

    def _check_alive(self, where: str) -> bool:
        """A server that died by itself (we did not kill it) counts as a failed restart; start it again."""
        assert self.server is not None
        if self.server.alive():
            return True
        tail = self.server.log_tail()
        self.failures.append(
            {
                "after": where,
                "try": 0,
                "problem": f"died by itself with {self.server.returncode()}",
                "returncode": self.server.returncode(),
                "up_s": round(time.monotonic() - self.server.started_at, 2),
                "log_tail": tail,
            }
        )
        log(f"server died by itself ({where}) with {self.server.returncode()}\n--- server log tail ---\n{tail}\n---")
        self.server.kill()
        return self.start_server(f"{where}: died by itself")

    def _sleep_watching(self, seconds: float, where: str) -> bool:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if not self._check_alive(where):
                return False
            time.sleep(0.05)
        return True

    def _aim_window(self, trigger: str, where: str) -> str:
        """Poll the database (and the marks) until a job sits in the window, then kill at once.
        Returns what triggered the kill: 'scheduled', 'started', or 'timeout'."""
        assert self.server is not None
        deadline = time.monotonic() + self.args.window_timeout_s
        self.marks.poll()
        while time.monotonic() < deadline:
            if not self.server.alive():
                if not self._check_alive(where):
                    return "server-down"
                deadline = time.monotonic() + self.args.window_timeout_s
            window = self._scheduled_without_handle()
            if window and trigger == "scheduled":
                self.server.kill()
                return "scheduled"
            if window:  # 'started': spin until the launch of one of these jobs has exec'd, then kill
                want = {j for j, _ in window}
                last = _last_pid()
                spin_until = time.monotonic() + 0.25
                while time.monotonic() < spin_until:
                    now_last = _last_pid()
                    if now_last != last:  # new processes: is one of them a wrapper of a job in the window?
                        for pid in _pid_range(last, now_last):
                            env = _environ(pid)
                            if env.get("CPNET_JOB_ID") in want:
                                self.server.kill()
                                st = _proc_stat(pid) or ["?"] * 4
                                self.trigger = {
                                    "via": "proc",
                                    "pid": pid,
                                    "job": env["CPNET_JOB_ID"],
                                    "attempt": env.get("CPNET_ATTEMPT"),
                                    "pgid": st[2],
                                    "sid": st[3],
                                }
                                return "started"
                        last = now_last
                    marked = [(j, att) for j, att in self.marks.poll() if j in want]
                    if marked:
                        self.server.kill()
                        self.trigger = {"via": "marks", "job": marked[0][0], "attempt": str(marked[0][1])}
                        return "started"
            time.sleep(0.001)
        self.server.kill()
        return "timeout"

    def _wait_window_jobs_end(self, window: list[tuple[str, int]], killed_at: float) -> dict[str, int]:
        """Until each job caught in the window has ended (its exit file exists) or is known never to
        have started (no live tagged process, no start mark, no exit file); bounded."""
        deadline = killed_at + self.args.job_seconds + 10
        pending = set(window)
        ended = never = 0
        while pending and time.monotonic() < deadline:
            self.marks.poll()
            live = set(_job_processes(self.run_dir).values())
            for job, attempt in list(pending):
                if (self.run_dir / f"{job}.{attempt}.exit").exists():
                    pending.discard((job, attempt))
                    ended += 1
                elif (job, str(attempt)) not in live and not self.marks.started(job, attempt) and time.monotonic() - killed_at > 1.0:
                    pending.discard((job, attempt))
                    never += 1
            if pending:
                time.sleep(0.05)
        return {"ended": ended, "never_started": never, "still_running": len(pending)}

    def run(self) -> dict[str, Any]:
        a = self.args
        assert self.server is not None
        if not self.start_server("first start"):
            self.aborted = "the first start did not come up"
            return self.report(None, False)
        for i in range(a.submitters):
            th = threading.Thread(
                target=_submitter,
                daemon=True,
                name=f"submitter-{i}",
                args=(i, self.server.url, self.token, self.command, a.submit_interval_s, a.seed, self.stop_submit, self.settle_by, self.ledger),
            )
            th.start()
            self.threads.append(th)
        n_window = round(a.kills * a.window_kills)
        kinds = ["window"] * n_window + ["random"] * (a.kills - n_window)
        self.rng.shuffle(kinds)
        n_win_seen = 0
        for k, kind in enumerate(kinds, 1):
            where = f"kill {k - 1}" if k > 1 else "first start"
            rec: dict[str, Any] = {"n": k, "kind": kind}
            if kind == "random":
                pause = self.rng.uniform(a.min_gap_s, a.max_gap_s)
                rec["pause_s"] = round(pause, 3)
                if not self._sleep_watching(pause, where):
                    self.aborted = f"the server did not come up after {where}"
                    break
                rec["uptime_s"] = round(time.monotonic() - self.server.started_at, 3)
                self.server.kill()
                rec["trigger"] = "random"
            else:
                trigger = a.window_trigger if a.window_trigger != "mixed" else ("started" if n_win_seen % 2 == 0 else "scheduled")
                restart_mode = a.window_restart if a.window_restart != "mixed" else ("after-end" if n_win_seen % 4 < 2 else "at-once")
                n_win_seen += 1
                rec["aim"] = trigger
                rec["restart"] = restart_mode
                if not self._sleep_watching(self.rng.uniform(0.0, a.min_gap_s), where):
                    self.aborted = f"the server did not come up after {where}"
                    break
                self.trigger = {}
                got = self._aim_window(trigger, where)
                if got == "server-down":
                    self.aborted = f"the server did not come up after {where}"
                    break
                rec["trigger"] = got
                rec["uptime_s"] = round(time.monotonic() - self.server.started_at, 3)
            killed_at = time.monotonic()
            rec["t_s"] = round(killed_at - self.t0, 3)
            window = self._scheduled_without_handle()  # right after the kill, read from the database
            self.marks.poll()
            rec["in_window"] = len(window)
            if kind == "window" and self.trigger:
                pid = self.trigger.get("pid")
                st = _proc_stat(pid) if pid else None
                rec["trigger_proc"] = {**self.trigger, "alive_after_kill": st is not None and st[0] not in ("Z", "X")}
            rec["hit"] = bool(window)
            if kind == "window" and rec.get("restart") == "after-end" and window:
                rec["window_jobs"] = self._wait_window_jobs_end(window, killed_at)
            else:
                time.sleep(0.2)
                self.marks.poll()
            # a job caught in the window whose process had started: the crash left a process (or,
            # once it ended, only an exit file) and no handle
            rec["started_in_window"] = sum(1 for j, att in window if self.marks.started(j, att) or (self.run_dir / f"{j}.{att}.exit").exists())
            rec["ended_before_restart"] = sum(1 for j, att in window if (self.run_dir / f"{j}.{att}.exit").exists())
            self.kill_log.append(rec)
            t_restart = time.monotonic()
            ok = self.start_server(f"kill {k}")
            rec["restart_s"] = round(time.monotonic() - t_restart, 2)
            rec["restart_ok"] = ok
            log(
                f"kill {k}/{a.kills} {kind} ({rec['trigger']}): in_window={rec['in_window']} started_in_window={rec['started_in_window']} "
                f"ended_before_restart={rec['ended_before_restart']} restart {'ok' if ok else 'FAILED'} in {rec['restart_s']} s; acked {len(self.ledger.acked)}"
            )
            if not ok:
                self.aborted = f"the server did not come up after kill {k} ({a.restart_tries} tries)"
                break
        # stop submitting; let in-flight keys settle (acknowledged or abandoned) while the server is up
        t_stop = time.monotonic()
        self.settle_by[0] = t_stop + (30 if self.aborted is None else 0)
        self.stop_submit.set()
        for th in self.threads:
            th.join(60)
        drain = self._drain(t_stop) if self.aborted is None else None
        drained = drain is not None
        mismatch = self._recheck_idempotency() if self.aborted is None else None
        clean_stop = self.server.stop() if self.server.alive() else None
        out = self.report(drain, drained)
        out["idempotency_recheck_mismatched"] = mismatch
        out["clean_stop"] = clean_stop
        return out

    def _drain(self, t_stop: float) -> float | None:
        ids = set(self.ledger.acked.values())
        deadline = t_stop + self.args.drain_timeout_s
        while time.monotonic() < deadline:
            if not self._check_alive("drain"):
                self.aborted = "the server did not come up during the drain"
                return None
            states = self._states(ids)
            if all(states.get(j) is not None and states[j].state in TERMINAL for j in ids):
                return round(time.monotonic() - t_stop, 2)
            time.sleep(0.25)
        return None

    def _recheck_idempotency(self) -> int | None:
        """Re-post every acknowledged key: the answer must name the same job (200, not a new one)."""
        assert self.server is not None
        bad = 0
        try:
            with httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10) as c:
                for key, jid in sorted(self.ledger.acked.items()):
                    r = c.post("/v1/jobs", json={"command": self.command, "idempotency_key": key})
                    if r.status_code != 200 or r.json().get("id") != jid:
                        bad += 1
        except httpx.HTTPError:
            return None
        return bad

    def report(self, drain_s: float | None, drained: bool) -> dict[str, Any]:
        from sqlalchemy import func, select

        from cpnet.control.store import schema as t

        a = self.args
        self.marks.poll()
        acked_ids = set(self.ledger.acked.values())
        rows = self._states()
        stored = acked_ids & set(rows)
        lost = sorted(acked_ids - set(rows))
        unacked = sorted(set(rows) - acked_ids)
        stuck = sorted(j for j in stored if rows[j].state not in TERMINAL)
        failed = sorted(j for j in stored if rows[j].state in ("failed", "cancelled"))
        reasons = Counter(re.sub(r"j-[0-9a-f]{16}", "<job>", f"{rows[j].state}: {rows[j].reason}") for j in failed)
        ran_twice, duplicate, unended_then_restarted = [], [], []
        extra_starts = 0
        for job, runs in self.marks.runs.items():
            attempts = Counter(r.attempt for r in runs)
            spans = sorted(runs, key=lambda r: r.start_ns)
            overlap = any(nxt.start_ns < (prev.end_ns if prev.end_ns is not None else prev.start_ns) for prev, nxt in itertools.pairwise(spans))
            if overlap or any(c > 1 for c in attempts.values()):
                ran_twice.append(job)
            if len(runs) > 1:
                duplicate.append(job)
                extra_starts += len(runs) - 1
            if any(prev.end_ns is None for prev in spans[:-1]):
                unended_then_restarted.append(job)  # a run with no end mark, then another start
        no_end = sorted({job for job, runs in self.marks.runs.items() for r in runs if r.end_ns is None})
        succeeded_unstarted = sorted(j for j in stored if rows[j].state == "succeeded" and not self.marks.started(j, int(rows[j].attempt)))
        with self.store.engine.connect() as c:
            events = dict(c.execute(select(t.job_events.c.kind, func.count()).group_by(t.job_events.c.kind)).all())
        window_kills = [r for r in self.kill_log if r["kind"] == "window"]
        http_5xx = sum(n for what, n in self.ledger.errors.items() if what.startswith("HTTP 5"))
        target = (
            self.aborted is None
            and len(self.kill_log) == a.kills
            and not lost
            and not ran_twice
            and not stuck
            and not self.failures
            and drained
            and not http_5xx
            and not failed
        )  # the bench's jobs cannot fail by themselves
        cap = 20
        return {
            "kills": len(self.kill_log),
            "window_kills": len(window_kills),
            "window_kills_hit": sum(r["hit"] for r in window_kills),
            "window_kills_hit_started": sum(r["started_in_window"] > 0 for r in window_kills),
            "window_kills_hit_ended_before_restart": sum(r["ended_before_restart"] > 0 for r in window_kills),
            "random_kills_hit": sum(r["hit"] for r in self.kill_log if r["kind"] == "random"),
            "acknowledged": len(acked_ids),
            "acknowledged_after_retry": self.ledger.retried_acks,
            "stored": len(stored),
            "lost": len(lost),
            "ran_twice": len(ran_twice),
            "duplicate_runs": len(duplicate),
            "extra_starts": extra_starts,
            "stuck": len(stuck),
            "failed": len(failed),
            "failed_reasons": dict(reasons.most_common(10)),
            "restarts": max((self.server.starts if self.server else 0) - 1, 0),
            "restarts_failed": len(self.failures),
            "drain_time_s": drain_s,
            "wall_s": round(time.monotonic() - self.t0, 1),
            "target_met": target,
            "aborted": self.aborted,
            "final_states": dict(Counter(rows[j].state for j in stored)),
            "stored_unacknowledged": len(unacked),
            "abandoned_keys": len(self.ledger.abandoned),
            "key_answered_with_two_ids": len(self.ledger.mismatched),
            "succeeded_without_start_mark": len(succeeded_unstarted),
            "runs_without_end_mark": len(no_end),
            "unended_run_then_restarted": len(unended_then_restarted),
            "process_starts": sum(len(r) for r in self.marks.runs.values()),
            "bad_mark_lines": len(self.marks.bad_lines),
            "http_5xx": http_5xx,  # server errors answered to submissions (connection errors are expected)
            "submit_errors": dict(self.ledger.errors),
            "events": events,
            "examples": {
                "lost": lost[:cap],
                "ran_twice": ran_twice[:cap],
                "duplicate_runs": duplicate[:cap],
                "stuck": {j: rows[j].state for j in stuck[:cap]},
                "runs_without_end_mark": no_end[:cap],
                "succeeded_without_start_mark": succeeded_unstarted[:cap],
            },
            "kill_log": self.kill_log,
            "restart_failures": self.failures,
            "config": {
                "kills": a.kills,
                "backend": a.backend,
                "submitters": a.submitters,
                "seed": a.seed,
                "job_seconds": a.job_seconds,
                "window_kills": a.window_kills,
                "window_trigger": a.window_trigger,
                "window_restart": a.window_restart,
                "workers": a.workers,
                "serve_args": a.serve_arg,
                "interval_s": a.interval_s,
                "submit_interval_s": a.submit_interval_s,
                "min_gap_s": a.min_gap_s,
                "max_gap_s": a.max_gap_s,
                "settle_s": a.settle_s,
                "restart_timeout_s": a.restart_timeout_s,
                "drain_timeout_s": a.drain_timeout_s,
                "cpus": os.cpu_count(),
                "started_at": self.started_at_iso,
                "git_head": _git("rev-parse", "--short", "HEAD"),
                "git_dirty": _git("status", "--porcelain", "--untracked-files=no", "src") not in ("", None),
                "cpnet_src": str(Path(importlib.util.find_spec("cpnet").origin or "").parent),  # type: ignore[union-attr]
                **self.source_shas,
                "data_dir": str(self.base) if a.keep else None,
            },
        }

    def cleanup(self) -> None:
        self.stop_submit.set()
        self.settle_by[0] = 0.0
        if self.server is not None and self.server.alive():
            self.server.kill()
        # jobs still running (drain timed out, or interrupted): kill their process groups, verified
        # by this run's tag, never by name
        for pid in _job_processes(self.run_dir):
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except OSError:
                pass
        if self.store is not None:
            self.store.close()
        if self.pg is not None:
            try:
                self.pg.stop()
            except Exception as exc:  # cleanup goes on
                log(f"stopping the temporary PostgreSQL failed: {exc}")
        if self.args.keep:
            log(f"kept {self.base} (data/server.log, shared/marks.log, data/runs/, data/jobs/, the SQLite db)")
        else:
            shutil.rmtree(self.base, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Prints one JSON object on stdout; progress and server log tails on stderr.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--kills", type=int, default=20, help="number of SIGKILLs of the server")
    ap.add_argument(
        "--backend", choices=("sqlite", "postgres"), default="sqlite", help="store; postgres starts a temporary server (cpnet.control.store.tempserver)"
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="cpnet serve --workers: 0 = API and reconciler in one process; N = N API processes + the reconciler in the leader",
    )
    ap.add_argument(
        "--serve-arg", action="append", default=[], metavar="ARG", help="extra argument for cpnet serve (repeatable), e.g. --serve-arg=--insecure-shared-user"
    )
    ap.add_argument("--submitters", type=int, default=4, help="concurrent submitting clients")
    ap.add_argument("--seed", type=int, default=0, help="seeds which kills aim at the window, the pauses and the submit pacing")
    ap.add_argument("--job-seconds", type=float, default=0.5, help="how long each job runs (sleep)")
    ap.add_argument("--window-kills", type=float, default=0.5, help="share of the kills aimed at the scheduled-before-running window")
    ap.add_argument(
        "--window-trigger",
        choices=("scheduled", "started", "mixed"),
        default="mixed",
        help="kill when a job is seen in 'scheduled' with no handle, or when such a job's process has also been started (its tagged wrapper appeared in /proc, or it wrote its start mark); mixed alternates",
    )
    ap.add_argument(
        "--window-restart",
        choices=("after-end", "at-once", "mixed"),
        default="mixed",
        help="after a window kill, restart once the caught jobs have ended (the restart finds only their exit files) or at once; mixed alternates in pairs",
    )
    ap.add_argument(
        "--window-timeout-s", type=float, default=15.0, help="a window kill that sees no job in the window this long kills anyway (counted as not hit)"
    )
    ap.add_argument(
        "--submit-interval-s",
        type=float,
        default=None,
        help="mean pause between one submitter's jobs; by default the offered load is about half the local executor's capacity, cpus / (job-seconds + interval-s)",
    )
    ap.add_argument("--interval-s", type=float, default=0.5, help="cpnet serve --interval-s (reconciler period)")
    ap.add_argument("--min-gap-s", type=float, default=0.5, help="random kills: shortest pause after the server came up")
    ap.add_argument("--max-gap-s", type=float, default=4.0, help="random kills: longest pause after the server came up")
    ap.add_argument("--settle-s", type=float, default=2.0, help="a restart counts as up when /healthz answers and the server is still alive this long after")
    ap.add_argument("--restart-timeout-s", type=float, default=60.0, help="how long a start may take to answer /healthz")
    ap.add_argument("--restart-tries", type=int, default=2, help="starts tried after a kill before the run is aborted")
    ap.add_argument("--drain-timeout-s", type=float, default=180.0, help="how long to wait at the end for every acknowledged job to be terminal")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (data/server.log, shared/marks.log, data/runs/, data/jobs/, the SQLite db); a temporary PostgreSQL is always removed",
    )
    args = ap.parse_args(argv)
    if args.kills < 0 or args.submitters < 1 or not 0 <= args.window_kills <= 1 or args.job_seconds < 0 or args.min_gap_s > args.max_gap_s:
        ap.error("need --kills >= 0, --submitters >= 1, 0 <= --window-kills <= 1, --job-seconds >= 0, --min-gap-s <= --max-gap-s")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def _term(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    bench = Bench(args)
    out: dict[str, Any] | None = None
    try:
        bench.setup()
        log(
            f"data in {bench.base}; {args.kills} kills ({args.backend}, workers={args.workers}), "
            f"{args.submitters} submitters every {args.submit_interval_s} s, jobs of {args.job_seconds:g} s"
        )
        out = bench.run()
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    except subprocess.CalledProcessError as exc:  # e.g. initdb of the temporary PostgreSQL
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr or "")
        log(f"setup failed: {exc}\n{err[-2000:]}")
        return 2
    finally:
        bench.cleanup()
    text = json.dumps(out, indent=None)
    print(text)
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0 if out.get("target_met") else 1


if __name__ == "__main__":
    sys.exit(main())
