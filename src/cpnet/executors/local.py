"""`local`: runs each job as a real subprocess on this machine, in its own process group.

Who a job runs as, in which directory and with which environment: `cpnet.executors.sandbox`
(by default each tenant's own unprivileged user, a private workspace, a scrubbed environment).

The job's argv runs under a tiny `/bin/sh` wrapper, kept as the server's user, that writes the
exit status to `<run_dir>/<job>.<attempt>.exit` when the command ends. That file, the wrapper's
environment tag (`CPNET_JOB_ID`, `CPNET_ATTEMPT`) and the handle (pid, pgid, kernel start time)
let a restarted server re-attach to a job it launched before a crash. A process group is signalled
only while its leader is verified: our own unreaped child, or a live process of the server's user
with the recorded start time (pids are reused). A job whose wrapper ended while the server was down
reports its exit file; its stragglers are found by their tag and held by a pidfd while checked.
A job whose process vanished without writing an exit file is reported LOST, never guessed as finished.

The local site advertises this machine's CPU cores as the pool `CPU` (one device per core) and
the NVIDIA GPUs that `nvidia-smi` lists, under their catalog model key. Jobs placed on the GPUs get
`CUDA_VISIBLE_DEVICES` naming the indices reserved for them; other jobs do not get the variable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cpnet.executors.base import LaunchRejected, LaunchRequest, Observation, RunStatus
from cpnet.executors.registry import register_executor
from cpnet.executors.sandbox import (
    SETPRIV,
    JobUser,
    SandboxError,
    check_reachable,
    ensure_user,
    job_env,
    make_private_dir,
    resolve_isolation,
    tenant_user_name,
)

CPU_POOL = "CPU"  # this machine's CPU cores as an accelerator-like pool of 1-core devices
_WRAPPER = '"$@"; rc=$?; echo $rc > "$CPNET_EXIT_FILE.tmp"; mv -f "$CPNET_EXIT_FILE.tmp" "$CPNET_EXIT_FILE"; exit $rc'
# Run as the job's user: enter its working directory, then become the job's command.
_ENTER = 'cd -- "$1" || exit 126; shift; exec "$@"'
CANCEL_GRACE_S = 3.0


def process_start_ticks(pid: int) -> int | None:
    """Kernel start time of `pid` (clock ticks since boot), or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])  # field 22 of stat(5); fields here start at field 3


def _environ(pid: int) -> dict[str, str]:
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


def _catalog_keys() -> list[str]:
    from cpnet.catalog import load_catalog

    return list(load_catalog())


def gpu_model_key(name: str, models: Iterable[str] | None = None) -> str:
    """Catalog key for an nvidia-smi name ("NVIDIA H200" -> "H200"); the longest key found wins."""
    models = _catalog_keys() if models is None else models
    words = re.sub(r"[^A-Z0-9]+", " ", name.upper())
    hits = [m for m in models if re.search(rf"(^| ){re.escape(re.sub(r'[^A-Z0-9]+', ' ', m.upper()).strip())}( |$)", words)]
    if not hits:  # "GeForce RTX 2080 Ti" -> "RTX2080Ti": compare without separators
        compact = words.replace(" ", "")
        hits = [m for m in models if re.sub(r"[^A-Z0-9]+", "", m.upper()) in compact]
    return max(hits, key=len) if hits else name.replace(" ", "-")


def detect_nvidia_gpus() -> list[tuple[int, str]]:
    """(index, model key) of each NVIDIA GPU that nvidia-smi lists; [] without a driver."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index,name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    gpus = []
    for line in out.stdout.splitlines():
        idx, _, name = line.partition(",")
        if idx.strip().isdigit():
            gpus.append((int(idx), gpu_model_key(name.strip())))
    return gpus


@dataclass
class _Run:
    job_id: str
    attempt: int
    pid: int | None  # the wrapper (leader of the job's process group); None: it ended while we were down
    start_ticks: int | None  # the leader's kernel start time: a pid counts as the job only while it matches
    exit_file: Path
    proc: subprocess.Popen[bytes] | None  # None when adopted after a restart
    gpus: list[int] = field(default_factory=list)
    cancelled_at: float | None = None
    final: Observation | None = None

    @property
    def handle(self) -> str:
        if self.pid is None:
            return ""
        return json.dumps({"pid": self.pid, "pgid": self.pid, "start_ticks": self.start_ticks})


CHECKPOINT_SCAN = 1000  # entries of a checkpoint directory looked at for its newest write (a job controls how many there are)


@register_executor("local")
class LocalExecutor:
    """Processes on this machine; `run_dir` holds exit files and, by default, logs; `job_root`
    holds each job's private workspace (see `cpnet.executors.sandbox` for who a job runs as)."""

    name = "local"

    def __init__(
        self,
        run_dir: str | os.PathLike[str] = ".cpnet/runs",
        site_id: str = "local",
        gpus: list[tuple[int, str]] | None = None,
        cpus: int | None = None,
        *,
        isolation: str = "auto",
        job_root: str | os.PathLike[str] | None = None,
        tenant_users: Mapping[str, str] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        self.isolation = resolve_isolation(isolation)
        self.job_root = Path(job_root).resolve() if job_root else self.run_dir.parent / "jobs"
        self.job_root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.job_root, 0o711)  # job users may enter their own workspace, not list the others
        if self.isolation == "users":
            check_reachable(self.job_root)
            if not os.access(SETPRIV, os.X_OK):
                raise SandboxError(f"{SETPRIV} (util-linux) is needed to run jobs as tenant users")
        self.tenant_users = dict(tenant_users or {})
        self.site_id = site_id
        self.gpus = detect_nvidia_gpus() if gpus is None else gpus
        self.cpus = cpus or os.cpu_count() or 1
        self._runs: dict[str, _Run] = {}
        self._tenant: str | None = None  # the one tenant a single-tenant executor serves

    def serve_tenants(self, tenants: Iterable[str]) -> None:
        """Check at start-up that this executor may run jobs of `tenants`; single-tenant pins the one."""
        names = sorted(tenants)
        if self.isolation == "single-tenant":
            if len(names) > 1:
                raise SandboxError(
                    f"the local executor cannot run {len(names)} tenants' jobs apart: the server is not root, so every job "
                    "would run as the server's own user and could read the database and the other tenants' files. Start it "
                    "as root (each tenant's jobs then run as their own user), or give --insecure-shared-user on a machine "
                    "where every tenant is trusted"
                )
            self._tenant = names[0] if names else None

    def inventory(self) -> Mapping[str, Mapping[str, int]]:
        inv: dict[str, int] = {CPU_POOL: self.cpus}
        for _, model in self.gpus:
            inv[model] = inv.get(model, 0) + 1
        return {self.site_id: inv}

    def _reserve_gpus(self, model: str, n: int) -> list[int]:
        busy = {g for r in self._runs.values() for g in r.gpus}
        free = [i for i, m in self.gpus if m == model and i not in busy]
        return free[:n]

    def _user(self, tenant: str) -> JobUser | None:
        if self.isolation == "users":
            mapped = self.tenant_users.get(tenant)
            return ensure_user(mapped or tenant_user_name(tenant), create=mapped is None)
        if self.isolation == "single-tenant":
            if self._tenant is None:
                self._tenant = tenant
            elif tenant != self._tenant:
                raise LaunchRejected(
                    f"this server runs local jobs as its own user and so serves tenant '{self._tenant}' only; "
                    "an operator can start it as root to run every tenant's jobs as its own user"
                )
        return None

    def checkpoint_s(self, job_id: str) -> float | None:
        """When the job last wrote into its checkpoint directory (the newest mtime in it, symlinks
        not followed, at most CHECKPOINT_SCAN entries looked at); None when it holds nothing."""
        newest: float | None = None
        stack, seen = [self.job_root / job_id / "checkpoint"], 0
        while stack and seen < CHECKPOINT_SCAN:
            try:
                entries = list(os.scandir(stack.pop()))
            except OSError:
                continue
            for e in entries[: CHECKPOINT_SCAN - seen]:
                seen += 1
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                newest = st.st_mtime if newest is None else max(newest, st.st_mtime)
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
        return newest

    def launch(self, request: LaunchRequest) -> str:
        p = request.placement
        user = self._user(request.tenant)
        workspace = self.job_root / request.job_id
        make_private_dir(workspace, user)
        make_private_dir(workspace / "tmp", user)
        checkpoint = workspace / "checkpoint"  # in the workspace: only the job's user may read it; survives requeue
        make_private_dir(checkpoint, user)
        cwd = request.env.get("CPNET_WORKDIR") or str(workspace)
        if not Path(cwd).is_dir():
            raise LaunchRejected(f"working directory {cwd} does not exist on site {self.site_id} (or is not a directory)")
        exit_file = self.run_dir / f"{request.job_id}.{request.attempt}.exit"
        exit_file.unlink(missing_ok=True)
        contract = {
            "CPNET_JOB_ID": request.job_id,
            "CPNET_ATTEMPT": str(request.attempt),
            "CPNET_SITE": p.site,
            "CPNET_ACCELERATOR": p.accelerator,
            "CPNET_DEVICES": str(p.num_devices),
            "CPNET_EXIT_FILE": str(exit_file),
            "CPNET_CHECKPOINT_DIR": str(checkpoint),
            **{k: v for k, v in request.env.items() if k.startswith("CPNET_")},
        }
        gpus = self._reserve_gpus(p.accelerator, p.num_devices) if p.site == self.site_id else []
        if gpus:
            contract["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
        env = job_env({k: v for k, v in request.env.items() if not k.startswith("CPNET_")}, contract, str(workspace))
        drop = [] if user is None else [SETPRIV, f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--no-new-privs", "--"]
        log_path = Path(request.log_path or self.run_dir / f"{request.job_id}.log")
        log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            # The wrapper stays the server's user (the job cannot forge its exit status or signal it);
            # the job itself enters its directory as its own user, so it gains no access by the cd.
            proc = subprocess.Popen(
                ["/bin/sh", "-c", _WRAPPER, "cpnet-job", *drop, "/bin/sh", "-c", _ENTER, "cpnet-enter", cwd, *request.command],
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                env=env,
                cwd="/",
                start_new_session=True,
                close_fds=True,
            )
        finally:
            os.close(fd)
        run = _Run(request.job_id, request.attempt, proc.pid, process_start_ticks(proc.pid), exit_file, proc, gpus)
        self._runs[request.job_id] = run
        return run.handle

    def observe(self) -> list[Observation]:
        now = time.monotonic()
        out = []
        for run in self._runs.values():
            if run.final is None:
                run.final = self._poll(run, now)
            out.append(run.final or Observation(run.job_id, run.attempt, run.handle, RunStatus.RUNNING))
        return out

    def _poll(self, run: _Run, now: float) -> Observation | None:
        code: int | None = None
        if run.proc is not None:
            if run.proc.returncode is None:
                if not _exited(run.proc.pid):
                    self._escalate_cancel(run, now)
                    return None
                # Exited but not yet reaped: the zombie keeps its pid (and so its group id) ours.
                _killpg(run.proc.pid, signal.SIGKILL)  # stragglers the job left in its process group
            code = run.proc.wait()
        elif _verified(run):
            self._escalate_cancel(run, now)
            return None
        else:  # adopted, and its wrapper has ended: only processes still tagged as this attempt are its stragglers
            _kill_tagged(run.job_id, run.attempt, run.pid)
        recorded = _read_exit(run.exit_file)
        if run.cancelled_at is not None:
            return Observation(run.job_id, run.attempt, run.handle, RunStatus.CANCELLED, recorded, "cancelled")
        if recorded is None and code is not None and code >= 0:
            recorded = code
        if recorded is None:
            why = f"killed by signal {-code}" if code is not None and code < 0 else "process vanished without an exit status"
            return Observation(run.job_id, run.attempt, run.handle, RunStatus.LOST, None, why)
        if recorded == 0:
            return Observation(run.job_id, run.attempt, run.handle, RunStatus.SUCCEEDED, 0, "exit code 0")
        return Observation(run.job_id, run.attempt, run.handle, RunStatus.FAILED, recorded, f"exit code {recorded}")

    def _escalate_cancel(self, run: _Run, now: float) -> None:
        """A cancelled job that outlived its grace period gets SIGKILL."""
        if run.cancelled_at is not None and now - run.cancelled_at > CANCEL_GRACE_S:
            self._signal(run, signal.SIGKILL)
        return None

    def _signal(self, run: _Run, sig: signal.Signals) -> None:
        """Signal the job's process group, only while its leader is verified to be the job's wrapper:
        our unreaped child, or a live process with the recorded start time. Never pid 0 or 1."""
        if run.pid is None or run.pid <= 1:
            return
        if run.proc is not None:
            if run.proc.returncode is None:
                _killpg(run.pid, sig)
        elif _verified(run):
            _killpg(run.pid, sig)

    def cancel(self, job_id: str, handle: str) -> None:
        run = self._runs.get(job_id)
        if run is None or run.final is not None:
            return
        if run.cancelled_at is None:
            run.cancelled_at = time.monotonic()
            self._signal(run, signal.SIGTERM)

    def adopt(self, job_id: str, attempt: int, handle: str) -> bool:
        """Re-attach after a restart; True if the job still runs or left its exit status."""
        exit_file = self.run_dir / f"{job_id}.{attempt}.exit"
        pid, ticks = _find(job_id, attempt, handle)
        if pid is None and _read_exit(exit_file) is None:
            # The wrapper is gone without a result (the job will be requeued): the job's own
            # processes, if any outlived it, must not run beside the retry.
            _kill_tagged(job_id, attempt, None)
            return False
        env = _environ(pid) if pid is not None else {}
        gpus = [int(g) for g in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip().isdigit()]
        if pid is None and handle:  # ended while we were down: keep the handle's pid to find its stragglers
            pid = _handle_pid(handle)
        self._runs[job_id] = _Run(job_id, attempt, pid, ticks, exit_file, None, gpus)
        return True

    def forget(self, job_id: str) -> None:
        run = self._runs.pop(job_id, None)
        if run is not None and run.proc is not None:
            run.proc.poll()


def _verified(run: _Run) -> bool:
    """True while an adopted run's leader is alive and still the process we recorded (same start time)."""
    return run.pid is not None and run.pid > 1 and run.start_ticks is not None and process_start_ticks(run.pid) == run.start_ticks


def _exited(pid: int) -> bool:
    """True once our child `pid` has exited; it is not reaped (WNOWAIT), so its pid stays reserved."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _killpg(pgid: int, sig: int) -> None:
    if pgid <= 1:  # killpg(0) is our own group; 1 is init's
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_tagged(job_id: str, attempt: int, pgid: int | None) -> None:
    """SIGKILL the processes that carry this attempt's tag (and sit in its group, when known).

    Each candidate is held by a pidfd while it is checked, so a pid reused meanwhile is never hit."""
    for pid in _pids():
        if pgid is not None and _pgid(pid) != pgid:
            continue
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            env = _environ(pid)
            if env.get("CPNET_JOB_ID") == job_id and env.get("CPNET_ATTEMPT") == str(attempt):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os.close(pidfd)


def _pids() -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and int(e.name) != os.getpid()]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _handle_pid(handle: str) -> int | None:
    try:
        pid = json.loads(handle).get("pid")
    except (ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) and pid > 1 else None


def _read_exit(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _find(job_id: str, attempt: int, handle: str) -> tuple[int | None, int | None]:
    """The live leader of (job, attempt): from the handle if it still matches, else by /proc scan."""
    if handle:
        pid = _handle_pid(handle)
        ticks = json.loads(handle).get("start_ticks") if pid is not None else None
        if pid is not None and ticks and process_start_ticks(pid) == ticks and _owned_by_us(pid):
            return pid, ticks
        return None, None
    # Launched but the handle was never recorded (crash between spawn and commit): find it by tag.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        env = _environ(pid)
        # The wrapper runs as the server's user; a job (another user) cannot pose as one by copying the tags.
        if env.get("CPNET_JOB_ID") == job_id and env.get("CPNET_ATTEMPT") == str(attempt) and _leads_group(pid) and _owned_by_us(pid):
            ticks = process_start_ticks(pid)
            if ticks is not None:
                return pid, ticks
    return None, None


def _owned_by_us(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}").st_uid == os.geteuid()
    except OSError:
        return False


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False
