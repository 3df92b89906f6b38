"""`local`: runs each job as a real subprocess on this machine, in its own process group.

The job's argv runs under a tiny `/bin/sh` wrapper that writes the exit status to
`<run_dir>/<job>.<attempt>.exit` when the command ends. That file, the job's environment tag
(`CPNET_JOB_ID`, `CPNET_ATTEMPT`) and the handle (pid, pgid, kernel start time) let a restarted
server re-attach to a job it launched before a crash: a pid counts as the job only while
/proc/<pid>/stat shows the same start time (pids are reused), and a job whose process vanished
without writing an exit file is reported LOST, never guessed as finished.

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

from cpnet.executors.base import LaunchRequest, Observation, RunStatus
from cpnet.executors.registry import register_executor

CPU_POOL = "CPU"  # this machine's CPU cores as an accelerator-like pool of 1-core devices
_WRAPPER = '"$@"; rc=$?; echo $rc > "$CPNET_EXIT_FILE.tmp"; mv -f "$CPNET_EXIT_FILE.tmp" "$CPNET_EXIT_FILE"; exit $rc'
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
    try:
        from cpnet.catalog import load_catalog  # type: ignore[attr-defined]

        return list(load_catalog())
    except ImportError:
        return ["K80", "P100", "V100", "T4", "A10", "A100", "A800", "H100", "H800", "H20", "H200"]


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
    pid: int
    start_ticks: int
    exit_file: Path
    proc: subprocess.Popen[bytes] | None  # None when adopted after a restart
    gpus: list[int] = field(default_factory=list)
    cancelled_at: float | None = None
    final: Observation | None = None

    @property
    def handle(self) -> str:
        return json.dumps({"pid": self.pid, "pgid": self.pid, "start_ticks": self.start_ticks})


@register_executor("local")
class LocalExecutor:
    """Processes on this machine; `run_dir` holds exit files and, by default, logs."""

    name = "local"

    def __init__(self, run_dir: str | os.PathLike[str] = ".cpnet/runs", site_id: str = "local", gpus: list[tuple[int, str]] | None = None, cpus: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.site_id = site_id
        self.gpus = detect_nvidia_gpus() if gpus is None else gpus
        self.cpus = cpus or os.cpu_count() or 1
        self._runs: dict[str, _Run] = {}

    def inventory(self) -> Mapping[str, Mapping[str, int]]:
        inv: dict[str, int] = {CPU_POOL: self.cpus}
        for _, model in self.gpus:
            inv[model] = inv.get(model, 0) + 1
        return {self.site_id: inv}

    def _reserve_gpus(self, model: str, n: int) -> list[int]:
        busy = {g for r in self._runs.values() for g in r.gpus}
        free = [i for i, m in self.gpus if m == model and i not in busy]
        return free[:n]

    def launch(self, request: LaunchRequest) -> str:
        p = request.placement
        exit_file = self.run_dir / f"{request.job_id}.{request.attempt}.exit"
        exit_file.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CPNET_")}
        env.update(request.env)
        env.update(
            CPNET_JOB_ID=request.job_id, CPNET_ATTEMPT=str(request.attempt), CPNET_SITE=p.site,
            CPNET_ACCELERATOR=p.accelerator, CPNET_DEVICES=str(p.num_devices), CPNET_EXIT_FILE=str(exit_file),
        )
        if request.checkpoint_dir:
            Path(request.checkpoint_dir).mkdir(parents=True, exist_ok=True)
            env["CPNET_CHECKPOINT_DIR"] = request.checkpoint_dir
        gpus = self._reserve_gpus(p.accelerator, p.num_devices) if p.site == self.site_id else []
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
        log_path = Path(request.log_path or self.run_dir / f"{request.job_id}.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        cwd = request.env.get("CPNET_WORKDIR") or str(log_path.parent)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", _WRAPPER, "cpnet-job", *request.command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                start_new_session=True, close_fds=True,
            )
        ticks = process_start_ticks(proc.pid) or 0
        run = _Run(request.job_id, request.attempt, proc.pid, ticks, exit_file, proc, gpus)
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
        if run.proc is not None:
            code = run.proc.poll()
            alive = code is None
        else:
            code = None
            alive = process_start_ticks(run.pid) == run.start_ticks
        if alive:
            if run.cancelled_at is not None and now - run.cancelled_at > CANCEL_GRACE_S:
                self._signal(run, signal.SIGKILL)
            return None
        self._signal(run, signal.SIGKILL)  # stragglers the job left in its process group
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

    def _signal(self, run: _Run, sig: signal.Signals) -> None:
        # Never signal a pid that now belongs to someone else: the leader must still match, or be our child.
        if run.proc is None and process_start_ticks(run.pid) not in (run.start_ticks, None):
            return
        try:
            os.killpg(run.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

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
            return False
        env = _environ(pid) if pid is not None else {}
        gpus = [int(g) for g in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip().isdigit()]
        if pid is None:  # finished while we were down: report its recorded status
            pid, ticks = (json.loads(handle)["pid"], 0) if handle else (0, 0)
        self._runs[job_id] = _Run(job_id, attempt, pid, ticks or 0, exit_file, None, gpus)
        return True

    def forget(self, job_id: str) -> None:
        run = self._runs.pop(job_id, None)
        if run is not None and run.proc is not None:
            run.proc.poll()


def _read_exit(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _find(job_id: str, attempt: int, handle: str) -> tuple[int | None, int | None]:
    """The live leader of (job, attempt): from the handle if it still matches, else by /proc scan."""
    if handle:
        h = json.loads(handle)
        if process_start_ticks(h["pid"]) == h["start_ticks"]:
            return h["pid"], h["start_ticks"]
        return None, None
    # Launched but the handle was never recorded (crash between spawn and commit): find it by tag.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        env = _environ(pid)
        if env.get("CPNET_JOB_ID") == job_id and env.get("CPNET_ATTEMPT") == str(attempt) and _leads_group(pid):
            ticks = process_start_ticks(pid)
            if ticks is not None:
                return pid, ticks
    return None, None


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False
