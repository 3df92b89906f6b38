"""`slurm`: one site is one Slurm cluster, driven through its own commands (sinfo, sbatch, squeue,
scancel, sacct, scontrol) or through its REST daemon, slurmrestd (`slurmrestd=URL`).

Placement -> a batch job: the accelerator model picks the partition (`partitions`, default: the
cluster's default partition) and the GRES name (`gres`, default `gpu`, e.g. `gpu:a100`); a gang of
N devices asks for `--nodes=ceil(N / per_node)` with `--gres=<name>:<N / nodes>`, where per_node is
the most GRES of that kind one node of the partition has. The batch script exports the CPNET_*
variables and execs the command (via `srun`, one task per node, when it spans several nodes).
Jobs are submitted `--no-requeue`: re-placement after a node failure is the reconciler's call.

Follow-up: the queue (`squeue -t all`) while Slurm holds the job; once it ends, the record comes
from the first source that has it: slurmdbd's accounting (`sacct`), slurmctld's memory
(`scontrol show job`, for MinJobAge), or the `jobcomp/filetxt` completion log. When the cluster
runs slurmdbd (`AccountingStorageType=accounting_storage/slurmdbd`), slurmctld sends a job's end to
it asynchronously, so for up to `sacct_wait_s` after the queue says a job ended cpnet waits for
slurmdbd's final record rather than take the others'; after that (slurmdbd down or behind) it
falls back. States: COMPLETED -> SUCCEEDED; FAILED, OUT_OF_MEMORY, TIMEOUT -> FAILED with the exit
code; NODE_FAIL, BOOT_FAIL, PREEMPTED, DEADLINE, REVOKED, or a job Slurm no longer knows -> LOST;
CANCELLED -> CANCELLED.

Metering: device_s = Slurm's elapsed time x the GRES Slurm allocated (sacct ElapsedRaw x AllocTRES
`gres/gpu` when accounting tracks it, i.e. `gres/gpu` is in AccountingStorageTRES; otherwise the
GRES the job was granted by its request). The observation's reason names the source, e.g. "(sacct)".

Transports. That logic is `SlurmExecutor`, once; what carries it to Slurm is a `SlurmBackend`:
`SlurmCommands` runs the commands above; `SlurmRest` (cpnet.executors.slurmrestd) sends the same
questions to slurmrestd's OpenAPI v0.0.38 (Slurm 22.05's): GET /slurm/v0.0.38/nodes for sinfo,
POST /slurm/v0.0.38/job/submit for sbatch, GET /slurm/v0.0.38/jobs for squeue, DELETE
/slurm/v0.0.38/job/{id} for scancel, GET /slurmdb/v0.0.38/job/{id} for sacct, GET
/slurm/v0.0.38/job/{id} for scontrol show job. Its sources read "(slurmdbd via slurmrestd)" and
"(slurmctld via slurmrestd)"; the completion log is a file on the controller's host, which a REST
client does not read.

Cluster. `cluster=NAME`: when the local Slurm configuration's ClusterName (`scontrol show config`,
else the slurm.conf file when the local controller does not answer) is NAME, commands run as they
are; otherwise every command carries `--clusters=NAME`, which slurmdbd routes to that cluster's
controller (Slurm's multi-cluster operation; NAME must be registered in slurmdbd). slurmrestd
v0.0.38 serves only its own cluster: with both, NAME must be that cluster.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cpnet.core.errors import CpnetError
from cpnet.executors.base import LaunchRequest, Observation, RunStatus
from cpnet.executors.registry import register_executor

ACTIVE = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "RESV_DEL_HOLD",
        "SPECIAL_EXIT",
    }
)
SUCCEEDED = frozenset({"COMPLETED"})
FAILED = frozenset({"FAILED", "OUT_OF_MEMORY", "TIMEOUT"})
LOST = frozenset({"NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "DEADLINE", "REVOKED", "LOST"})
CANCELLED = frozenset({"CANCELLED"})
USABLE_NODE_STATES = frozenset({"idle", "mixed", "allocated", "completing", "planned"})  # sinfo %T, all flags


@dataclass(frozen=True, slots=True)
class SlurmRecord:
    """What Slurm recorded about one finished job."""

    state: str
    exit_code: int | None
    elapsed_s: float | None
    gres_count: int | None  # allocated GRES of the job's kind, when the source says
    source: str


@dataclass(frozen=True, slots=True)
class Submission:
    """One batch job as the executor asks for it, whichever transport carries it to Slurm."""

    name: str
    script: Path  # the batch script, written to disk; sbatch reads it, slurmrestd is sent its text
    nodes: int  # exactly this many, one task on each
    gres: str  # per node, e.g. "gpu:a100:2"
    partition: str | None = None
    output: str | None = None  # stdout+stderr, appended
    chdir: str | None = None


class SlurmBackend(Protocol):
    """How the executor reaches one Slurm cluster. Lookups answer None (or nothing) when Slurm has no
    answer; a transport that fails (a command missing, slurmrestd down) raises CpnetError."""

    def check(self, partitions: Collection[str]) -> None:
        """CpnetError, one line without the site, when the cluster cannot be driven from here."""
        ...

    def nodes(self, partition: str | None) -> list[tuple[str, str, str]]:
        """(name, state as sinfo %T, GRES as sinfo %G) of each node of `partition` (None: all)."""
        ...

    def submit(self, job: Submission) -> str:
        """Slurm's job id."""
        ...

    def queue(self) -> dict[str, tuple[str, str]]:
        """Every job slurmctld holds (ended ones for MinJobAge): id -> (state, job name)."""
        ...

    def cancel(self, slurm_id: str) -> None: ...

    def accounting(self) -> bool:
        """Whether slurmdbd keeps the cluster's jobs (so `accounted` is the record of finished jobs)."""
        ...

    def accounted(self, slurm_id: str, gres: str) -> SlurmRecord | None:
        """slurmdbd's record of the job (sacct)."""
        ...

    def in_memory(self, slurm_id: str, gres: str) -> SlurmRecord | None:
        """slurmctld's record of the job (scontrol show job)."""
        ...

    def completion_log(self, slurm_id: str) -> SlurmRecord | None:
        """The jobcomp/filetxt log's record of the job."""
        ...


@dataclass
class _Run:
    job_id: str
    attempt: int
    slurm_id: str
    devices: int
    gres: str = "gpu"
    cancelled: bool = False
    ended_at: float | None = None  # monotonic time the queue first showed the job ended
    final: Observation | None = None


@register_executor("slurm")
class SlurmExecutor:
    """One Slurm cluster as site `site`. `partitions` / `gres`: accelerator model -> partition /
    GRES name; `cluster`: the cluster's name (routed with --clusters when it is not the local one);
    `slurmrestd`: drive the cluster through that REST daemon (unix:/PATH, or http(s)://HOST:PORT
    with `jwt`, default $SLURM_JWT) instead of the commands, which `slurm_conf` (sets SLURM_CONF),
    `bin_dir` and `sbatch_args` are about."""

    name = "slurm"

    def __init__(
        self,
        site: str = "slurm",
        partitions: Mapping[str, str] | None = None,
        gres: Mapping[str, str] | None = None,
        slurm_conf: str | None = None,
        script_dir: str = ".cpnet/slurm",
        bin_dir: str | None = None,
        sbatch_args: Sequence[str] = (),
        sacct_wait_s: float = 30.0,
        cluster: str | None = None,
        slurmrestd: str | None = None,
        jwt: str | None = None,
    ) -> None:
        self.site = site
        self.partitions = dict(partitions or {})
        self.gres = dict(gres or {})
        self.script_dir = Path(script_dir)
        self.sacct_wait_s = sacct_wait_s
        self.transport: SlurmBackend
        if slurmrestd:
            given = [n for n, v in (("slurm_conf", slurm_conf), ("bin_dir", bin_dir), ("sbatch_args", sbatch_args)) if v]
            if given:
                raise CpnetError(f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} to Slurm's commands, not to slurmrestd {slurmrestd}")
            from cpnet.executors.slurmrestd import SlurmRest

            self.transport = SlurmRest(slurmrestd, cluster=cluster, token=jwt)
        else:
            self.transport = SlurmCommands(slurm_conf=slurm_conf, bin_dir=bin_dir, sbatch_args=sbatch_args, cluster=cluster)
        self._accounting: bool | None = None  # whether the cluster runs slurmdbd; asked once
        self._runs: dict[str, _Run] = {}

    def check(self) -> None:
        """CpnetError (one line) when the cluster cannot be driven from here (SitesExecutor's start check)."""
        self.transport.check(sorted(set(self.partitions.values())))

    def close(self) -> None:
        """Let go of the transport's connections (slurmrestd's); the commands hold none."""
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()

    def _gres_name(self, model: str) -> str:
        return self.gres.get(model, "gpu")

    # -- inventory ---------------------------------------------------------------------------------
    def _per_node(self, model: str) -> list[int]:
        """GRES of `model`'s kind on each usable node of its partition (each node once)."""
        counts: dict[str, int] = {}
        for node, state, gres in self.transport.nodes(self.partitions.get(model)):
            if set(state.lower().rstrip("*~#!%$@^-").split("+")) <= USABLE_NODE_STATES:
                counts[node] = gres_count(gres, self._gres_name(model))
        return list(counts.values())

    def inventory(self) -> Mapping[str, Mapping[str, int]]:
        models = set(self.partitions) | set(self.gres) or {"GPU"}
        return {self.site: {m: sum(self._per_node(m)) for m in sorted(models)}}

    # -- launch ------------------------------------------------------------------------------------
    def launch(self, request: LaunchRequest) -> str:
        p = request.placement
        n = max(p.num_devices, 1)
        per_node = max(self._per_node(p.accelerator) or [0])
        if per_node <= 0:
            raise CpnetError(f"slurm: no usable node has GRES {self._gres_name(p.accelerator)} for {p.accelerator}")
        nodes = math.ceil(n / per_node)
        if request.log_path:
            Path(request.log_path).parent.mkdir(parents=True, exist_ok=True)
        job = Submission(
            name=f"cpnet-{request.job_id}-{request.attempt}",
            script=self._write_script(request, nodes),
            nodes=nodes,
            gres=f"{self._gres_name(p.accelerator)}:{math.ceil(n / nodes)}",
            partition=self.partitions.get(p.accelerator),
            output=request.log_path or None,
            chdir=request.env.get("CPNET_WORKDIR") or None,
        )
        slurm_id = self.transport.submit(job)
        self._runs[request.job_id] = _Run(request.job_id, request.attempt, slurm_id, n, self._gres_name(p.accelerator))
        return slurm_id

    def _write_script(self, request: LaunchRequest, nodes: int) -> Path:
        p = request.placement
        env = dict(request.env)
        env.update(
            CPNET_JOB_ID=request.job_id,
            CPNET_ATTEMPT=str(request.attempt),
            CPNET_SITE=p.site,
            CPNET_ACCELERATOR=p.accelerator,
            CPNET_DEVICES=str(p.num_devices),
            CPNET_WORLD_SIZE=str(nodes),
        )
        if request.checkpoint_dir:
            env["CPNET_CHECKPOINT_DIR"] = request.checkpoint_dir
        lines = ["#!/bin/bash", *(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()))]
        if request.checkpoint_dir:
            lines.append(f"mkdir -p {shlex.quote(request.checkpoint_dir)}")
        cmd = shlex.join(request.command)
        if nodes > 1:  # one task per node; each learns its rank from Slurm
            lines.append(f"exec srun --kill-on-bad-exit=1 --ntasks-per-node=1 bash -c 'export CPNET_RANK=$SLURM_PROCID; exec \"$@\"' cpnet {cmd}")
        else:
            lines += ["export CPNET_RANK=0", f"exec {cmd}"]
        self.script_dir.mkdir(parents=True, exist_ok=True)
        path = self.script_dir / f"{request.job_id}.{request.attempt}.sbatch"
        path.write_text("\n".join(lines) + "\n")
        return path.resolve()

    # -- observe -----------------------------------------------------------------------------------
    def observe(self) -> list[Observation]:
        live = [r for r in self._runs.values() if r.final is None]
        states = {k: state for k, (state, _) in self.transport.queue().items()} if live else {}
        out = []
        for run in self._runs.values():
            if run.final is None and states.get(run.slurm_id) not in ACTIVE:
                run.final = self._ended(run)
            out.append(run.final or Observation(run.job_id, run.attempt, run.slurm_id, RunStatus.RUNNING))
        return out

    def accounting(self) -> bool:
        """Whether the cluster stores jobs in slurmdbd (so its record is the one of finished jobs)."""
        if self._accounting is None:
            self._accounting = self.transport.accounting()
        return self._accounting

    def _ended(self, run: _Run) -> Observation | None:
        rec = None
        if self.accounting():
            rec = self.transport.accounted(run.slurm_id, run.gres)
            if rec is None or rec.state in ACTIVE:  # slurmdbd has not got the job's end yet
                now = time.monotonic()
                if run.ended_at is None:
                    run.ended_at = now
                if now - run.ended_at < self.sacct_wait_s:
                    return None
                rec = None
        rec = rec or self.record(run.slurm_id, run.gres)
        if rec is None:
            return Observation(
                run.job_id, run.attempt, run.slurm_id, RunStatus.LOST, None, f"Slurm job {run.slurm_id} vanished: no queue entry and no accounting record"
            )
        if rec.state in ACTIVE:
            return None
        gres = rec.gres_count if rec.gres_count else run.devices
        device_s = rec.elapsed_s * gres if rec.elapsed_s is not None else None
        why = f"Slurm {rec.state}" + (f", exit code {rec.exit_code}" if rec.exit_code is not None else "") + f" ({rec.source})"
        if rec.state in SUCCEEDED:
            status = RunStatus.SUCCEEDED
        elif rec.state in FAILED:
            status = RunStatus.FAILED
        elif rec.state in CANCELLED:
            status = RunStatus.CANCELLED
            why += "" if run.cancelled else "; not cancelled by cpnet"
        else:
            status = RunStatus.LOST
        return Observation(run.job_id, run.attempt, run.slurm_id, status, rec.exit_code, why, device_s=device_s)

    def record(self, slurm_id: str, gres: str = "gpu") -> SlurmRecord | None:
        """Slurm's record of a job: slurmdbd's, else slurmctld's (in memory), else the jobcomp/filetxt log's."""
        t = self.transport
        return t.accounted(slurm_id, gres) or t.in_memory(slurm_id, gres) or t.completion_log(slurm_id)

    # -- cancel / adopt / forget -------------------------------------------------------------------
    def cancel(self, job_id: str, handle: str) -> None:
        run = self._runs.get(job_id)
        slurm_id = run.slurm_id if run is not None else handle
        if run is not None:
            if run.final is not None:
                return
            run.cancelled = True
        if slurm_id:
            self.transport.cancel(slurm_id)

    def adopt(self, job_id: str, attempt: int, handle: str) -> bool:
        """Re-attach to a job a previous cpnet process submitted; False if Slurm has no trace of it."""
        queue = self.transport.queue()
        if not handle:
            name = f"cpnet-{job_id}-{attempt}"
            ids = [k for k, (_, n) in queue.items() if n == name]
            if not ids:
                return False
            handle = max(ids, key=lambda k: int(k) if k.isdigit() else -1)  # the latest submission
        if handle not in queue and self.record(handle) is None:
            return False
        self._runs[job_id] = _Run(job_id, attempt, handle, 0)
        return True

    def forget(self, job_id: str) -> None:
        self._runs.pop(job_id, None)


class SlurmCommands:
    """The SlurmBackend of Slurm's own commands, with `--clusters=NAME` on each when `cluster` is
    not the local configuration's cluster."""

    def __init__(self, slurm_conf: str | None = None, bin_dir: str | None = None, sbatch_args: Sequence[str] = (), cluster: str | None = None) -> None:
        self.env = dict(os.environ)
        if slurm_conf:
            self.env["SLURM_CONF"] = slurm_conf
        self.bin_dir = bin_dir
        self.sbatch_args = list(sbatch_args)
        self.cluster = cluster
        self._route: list[str] | None = None

    # -- running commands --------------------------------------------------------------------------
    def _run(self, argv: Sequence[str], check: bool = True, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        exe = os.path.join(self.bin_dir, argv[0]) if self.bin_dir else argv[0]
        try:
            out = subprocess.run([exe, *argv[1:]], env=self.env, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CpnetError(f"slurm: {argv[0]} failed: {exc}") from exc
        if check and out.returncode != 0:
            raise CpnetError(f"slurm: {' '.join(argv[:2])} exited {out.returncode}: {out.stderr.strip()}")
        return out

    def _cmd(self, *argv: str, check: bool = True, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        """A Slurm command, routed to `cluster` when that is not the local one."""
        return self._run([argv[0], *self.route(), *argv[1:]], check=check, timeout_s=timeout_s)

    def local_cluster(self) -> str | None:
        """ClusterName of the local configuration: slurmctld's (`scontrol show config`), else the
        slurm.conf file's (a login node whose own controller does not answer)."""
        try:
            out = self._run(["scontrol", "show", "config"], check=False)
            name = config_values(out.stdout).get("ClusterName") if out.returncode == 0 else None
        except CpnetError:
            name = None
        return name or conf_cluster_name(Path(self.env.get("SLURM_CONF") or "/etc/slurm/slurm.conf"))

    def route(self) -> list[str]:
        """[] when `cluster` is unset or local, else ["--clusters=NAME"]; decided once."""
        if self._route is None:
            local = self.local_cluster() if self.cluster else None
            self._route = [] if not self.cluster or (local or "").lower() == self.cluster.lower() else [f"--clusters={self.cluster}"]
        return self._route

    # -- SlurmBackend ------------------------------------------------------------------------------
    def check(self, partitions: Collection[str]) -> None:
        path = self.bin_dir or None
        for cmd in ("sinfo", "sbatch", "squeue", "scancel"):
            if shutil.which(cmd, path=path) is None:
                raise CpnetError(f"the Slurm command {cmd} is not found {'in ' + path if path else 'on PATH'} (install slurm-client, or set bin_dir)")
        try:
            out = self._cmd("sinfo", "-h", "-o", "%P", check=False, timeout_s=30)
        except CpnetError as exc:
            raise CpnetError(f"sinfo did not answer ({exc.__cause__.__class__.__name__ if exc.__cause__ else exc})") from None
        if out.returncode != 0:
            first = next((line.strip() for line in out.stderr.splitlines() if line.strip()), f"exit {out.returncode}")
            if self.route():
                name, local = self.cluster, self.local_cluster()
                here = f"this slurm.conf is cluster '{local}'" if local else "this slurm.conf names no cluster"
                if "known by database" in out.stderr or "talking to database" in out.stderr:
                    raise CpnetError(f"Slurm cluster '{name}' is not known here ({here}, and no slurmdbd routes to '{name}': {first})")
                raise CpnetError(f"Slurm cluster '{name}' does not answer sinfo --clusters={name} ({here}): {first}")
            raise CpnetError(f"the cluster does not answer sinfo: {first}")
        parts = {p.strip().rstrip("*") for p in out.stdout.split() if not p.startswith("CLUSTER:")}
        missing = sorted(set(partitions) - parts)
        if missing:
            raise CpnetError(f"no partition {', '.join(missing)} on the cluster (it has: {', '.join(sorted(parts)) or 'none'})")

    def nodes(self, partition: str | None) -> list[tuple[str, str, str]]:
        argv = ["sinfo", "-h", "-N", "-o", "%N|%T|%G"] + (["-p", partition] if partition else [])
        return [tuple(line.split("|", 2)) for line in self._cmd(*argv).stdout.splitlines() if line.count("|") == 2]  # type: ignore[misc]

    def submit(self, job: Submission) -> str:
        argv = ["sbatch", "--parsable", "--no-requeue", f"--job-name={job.name}", f"--nodes={job.nodes}", f"--ntasks={job.nodes}", f"--gres={job.gres}"]
        if job.partition:
            argv.append(f"--partition={job.partition}")
        if job.output:
            argv += [f"--output={job.output}", "--open-mode=append"]
        if job.chdir:
            argv.append(f"--chdir={job.chdir}")
        return self._cmd(*argv, *self.sbatch_args, str(job.script)).stdout.strip().split(";")[0]

    def queue(self) -> dict[str, tuple[str, str]]:
        out = self._cmd("squeue", "-h", "-t", "all", "-o", "%i|%T|%j")
        return {jid: (state, name) for jid, state, name in (line.split("|", 2) for line in out.stdout.splitlines() if line.count("|") >= 2)}

    def cancel(self, slurm_id: str) -> None:
        self._cmd("scancel", slurm_id, check=False)

    def _config(self) -> dict[str, str]:
        return config_values(self._cmd("scontrol", "show", "config", check=False).stdout)

    def accounting(self) -> bool:
        return self._config().get("AccountingStorageType") == "accounting_storage/slurmdbd"

    def accounted(self, slurm_id: str, gres: str) -> SlurmRecord | None:
        out = self._cmd("sacct", "-n", "-P", "-X", "-j", slurm_id, "-o", "JobIDRaw,State,ExitCode,ElapsedRaw,AllocTRES", check=False)
        for line in out.stdout.splitlines() if out.returncode == 0 else []:
            jid, state, code, elapsed, tres = (line.split("|") + [""] * 5)[:5]
            if jid == slurm_id:
                return SlurmRecord(state.split()[0], exit_code(code), float(elapsed) if elapsed.isdigit() else None, tres_count(tres, gres), "sacct")
        return None

    def in_memory(self, slurm_id: str, gres: str = "gpu") -> SlurmRecord | None:
        out = self._cmd("scontrol", "show", "job", "-o", slurm_id, check=False)
        f = key_values(out.stdout) if out.returncode == 0 else {}
        if f.get("JobId") != slurm_id:
            return None
        return SlurmRecord(f["JobState"], exit_code(f.get("ExitCode", "")), elapsed_s(f.get("StartTime"), f.get("EndTime")), None, "scontrol")

    def completion_log(self, slurm_id: str) -> SlurmRecord | None:
        cfg = self._config()
        if cfg.get("JobCompType") != "jobcomp/filetxt" or not cfg.get("JobCompLoc"):
            return None
        try:
            lines = Path(cfg["JobCompLoc"]).read_text().splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            f = key_values(line)
            if f.get("JobId") == slurm_id:
                return SlurmRecord(f["JobState"], exit_code(f.get("ExitCode", "")), elapsed_s(f.get("StartTime"), f.get("EndTime")), None, "jobcomp")
        return None


# -- parsing Slurm's output ---------------------------------------------------------------------------
def gres_count(gres: str, name: str) -> int:
    """Count of GRES `name` ("gpu" or "gpu:a100") in a sinfo %G string like "gpu:a100:4(S:0-1),gpu:t4:2"."""
    total = 0
    for item in re.sub(r"\([^)]*\)", "", gres).split(","):
        parts = item.split(":")
        if len(parts) < 2 or not parts[-1].isdigit():
            continue
        kind = parts[:-1]
        want = name.split(":")
        if kind[: len(want)] == want:
            total += int(parts[-1])
    return total


def tres_count(tres: str, gres: str) -> int | None:
    """Allocated GRES `gres` ("gpu" or "gpu:a100") in a sacct AllocTRES string like
    "billing=2,cpu=2,gres/gpu=2,node=1"; the untyped count first, as typed ones are subsets of it.
    None when accounting does not track that GRES."""
    counts = dict(item.partition("=")[::2] for item in tres.split(",") if "=" in item)
    for key in (f"gres/{gres.split(':')[0]}", f"gres/{gres}"):
        if counts.get(key, "").isdigit():
            return int(counts[key])
    return None


def exit_code(text: str) -> int | None:
    """Slurm's "code:signal" -> the exit code, or 128 + signal when a signal ended the job."""
    m = re.fullmatch(r"(\d+):(\d+)", text.strip())
    if not m:
        return None
    code, sig = int(m.group(1)), int(m.group(2))
    return code if code or not sig else 128 + sig


def elapsed_s(start: str | None, end: str | None) -> float | None:
    try:
        return (datetime.fromisoformat(end or "") - datetime.fromisoformat(start or "")).total_seconds()
    except ValueError:
        return None


def key_values(text: str) -> dict[str, str]:
    """ "A=1 B=x" (scontrol -o, jobcomp lines) -> {"A": "1", "B": "x"}."""
    return {k: v for k, _, v in (item.partition("=") for item in text.split()) if k}


def config_values(text: str) -> dict[str, str]:
    """`scontrol show config` lines "Key   = value" -> {"Key": "value"}."""
    return {k.strip(): v.strip() for k, sep, v in (line.partition("=") for line in text.splitlines()) if sep}


def wait_status_code(status: int) -> int | None:
    """A job's exit status as slurmctld keeps it (a wait(2) status: code << 8 | signal) -> the exit
    code, or 128 + signal when a signal ended the job; like `exit_code` for "code:signal"."""
    if status < 0:
        return None
    code, sig = (status >> 8) & 0xFF, status & 0x7F
    return code if code or not sig else 128 + sig


def conf_cluster_name(path: Path) -> str | None:
    """ClusterName in a slurm.conf file (keys are case-insensitive), or None."""
    try:
        text = path.read_text()
    except OSError:
        return None
    m = re.search(r"^[ \t]*ClusterName[ \t]*=[ \t]*([^\s#]+)", text, re.IGNORECASE | re.MULTILINE)
    return m.group(1) if m else None
