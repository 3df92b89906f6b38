"""A real single-host Slurm cluster in a directory, for tests and local trials (not an executor).

Debian's `slurm-wlm` + `munge`: its own munge key and socket, a generated slurm.conf on free
ports, one node (this host, named `cpnet0`) with `cpus` CPUs and `gpus` GRES `gpu:<gres_type>`.
Without real GPUs, slurmd drops file-less GPUs, so each fake GPU is a symlink to /dev/null (a
character device): Slurm allocates, counts and exports them (SLURM_JOB_GPUS, CUDA_VISIBLE_DEVICES)
like real ones. Accounting: slurmdbd needs MySQL, so `AccountingStorageType=accounting_storage/none`
and Slurm's own job-completion log (`jobcomp/filetxt`) holds the finished jobs' state, exit code,
start and end times; `sacct` is unavailable here (the executor falls back to that log).

    python -m cpnet.executors.slurm_testbed start DIR   # prints `export SLURM_CONF=...`
    python -m cpnet.executors.slurm_testbed stop DIR
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cpnet.core.errors import CpnetError

NODE = "cpnet0"


def slurm_installed() -> bool:
    return all(shutil.which(b) for b in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SlurmTestbed:
    root: Path
    cpus: int = 4
    gpus: int = 4
    gres_type: str = "fake"
    partition: str = "cpnet"

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def jobcomp(self) -> Path:
        return self.root / "jobcomp.txt"

    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        r = self.root
        for d in ("state", "spool", "munge", "dev", "log"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "munge").chmod(0o700)
        key = r / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            key.chmod(0o400)
        for i in range(self.gpus):
            dev = r / "dev" / f"gpu{i}"
            if not dev.is_symlink():
                dev.symlink_to("/dev/null")
        host = socket.gethostname().split(".")[0]
        self.conf.write_text("\n".join([
            "ClusterName=cpnettest",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            f"AuthInfo=socket={r}/munge/munge.sock",
            "CredType=cred/munge",
            "MpiDefault=none",
            "ProctrackType=proctrack/linuxproc",  # no cgroups needed (containers, CI)
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SlurmdParameters=config_overrides",  # the node may claim more CPUs than the host has
            "ReturnToService=1",  # an admin-downed node stays down until resumed
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPidFile={r}/slurmctld.pid",
            f"SlurmdPidFile={r}/slurmd.pid",
            f"SlurmdSpoolDir={r}/spool",
            f"StateSaveLocation={r}/state",
            f"SlurmctldLogFile={r}/log/slurmctld.log",
            f"SlurmdLogFile={r}/log/slurmd.log",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.jobcomp}",
            "GresTypes=gpu",
            "MinJobAge=300",
            "SchedulerParameters=sched_interval=1",
            f"NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={host} CPUs={self.cpus} RealMemory=1024 "
            f"Gres=gpu:{self.gres_type}:{self.gpus} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        (r / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName={NODE} Name=gpu Type={self.gres_type} File={r}/dev/gpu[0-{self.gpus - 1}]\n"
        )

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env={**os.environ, **self.env()}, capture_output=True, text=True, timeout=30)

    def start(self, timeout_s: float = 30.0) -> None:
        if not slurm_installed():
            raise CpnetError("Slurm is not installed: apt-get install slurm-wlm munge (or run scripts/system-deps.sh)")
        self.write_config()
        r = self.root
        steps = [
            ("munged", "--force", f"--key-file={r}/munge/munge.key", f"--socket={r}/munge/munge.sock",
             f"--pid-file={r}/munge/munged.pid", f"--log-file={r}/log/munged.log", f"--seed-file={r}/munge/seed"),
            ("slurmctld", "-c"),  # -c: a clean start, no state from an earlier run
            ("slurmd", "-N", NODE),
        ]
        for argv in steps:
            out = self._run(*argv)
            if out.returncode != 0:
                self.stop()
                raise CpnetError(f"{argv[0]} failed to start ({out.stderr.strip() or out.returncode}); see {r}/log")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self._run("sinfo", "-h", "-N", "-o", "%t").stdout.strip()
            if state == "idle":
                return
            time.sleep(0.3)
        self.stop()
        raise CpnetError(f"Slurm node did not become idle within {timeout_s:g} s (state '{state}'); see {r}/log")

    def stop(self) -> None:
        """Stop slurmd, slurmctld and munged (by their pid files); safe to call twice."""
        r = self.root
        for pid_file in (r / "slurmd.pid", r / "slurmctld.pid", r / "munge" / "munged.pid"):
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m cpnet.executors.slurm_testbed start|stop DIR", file=sys.stderr)
        return 2
    bed = SlurmTestbed(Path(argv[1]).resolve())
    if argv[0] == "start":
        bed.start()
        print(f"export SLURM_CONF={bed.conf}")
    else:
        bed.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
