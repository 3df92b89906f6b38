"""A real single-host Slurm cluster in a directory, for tests and local trials (not an executor).

Debian's `slurm-wlm` + `munge`: its own munge key and socket, a generated slurm.conf on free
ports, one node (this host, named `cpnet0`) with `cpus` CPUs and `gpus` GRES `gpu:<gres_type>`.
Without real GPUs, slurmd drops file-less GPUs, so each fake GPU is a character device node of
the null device (1:3) made in the testbed directory (a symlink to /dev/null where mknod is refused): Slurm allocates, counts and exports them (SLURM_JOB_GPUS, CUDA_VISIBLE_DEVICES)
like real ones.

Accounting, when Debian's `slurmdbd` and `mariadb-server` are installed (`accounting=True`): a
private MariaDB server (its own datadir under the root, 127.0.0.1 on a free port, no system
service), slurmdbd on a free port storing into it (`accounting_storage/mysql`), and slurm.conf with
`accounting_storage/slurmdbd`, `AccountingStorageTRES=gres/gpu` (so `sacct` reports the GPUs a job
held) and `jobacct_gather/linux`; the cluster is added with `sacctmgr` before slurmctld starts, no
AccountingStorageEnforce. Without them (`accounting=False`): `accounting_storage/none`, and `sacct`
has nothing. Either way Slurm's job-completion log (`jobcomp/filetxt`) also holds the finished
jobs' state, exit code, start and end times.

JWT, when Debian's auth/jwt plugin is installed (`jwt=True`): a random HS256 key in the directory
and `AuthAltTypes=auth/jwt` in slurm.conf (and slurmdbd.conf), so `token()` (`scontrol token`)
mints tokens. Slurm's REST daemon (Debian's `slurmrestd`), on demand: `start_rest()` runs one on a
unix socket in the directory (rest_auth/local: it serves the connecting user, here root) or, with
`jwt=True`, on 127.0.0.1 at a free port and a second socket (rest_auth/jwt); both load the v0.0.38 OpenAPI plugins
(and dbv0.0.38 with accounting), and `stop()` stops them. slurmrestd refuses to run as root or as
SlurmUser unless SLURMRESTD_SECURITY=disable_user_check, which this test cluster sets.
`remote_conf()` writes a client slurm.conf of another cluster whose own controller does not
answer: from it, this cluster is reachable only through slurmdbd (`--clusters`).

    python -m cpnet.executors.slurm_testbed start DIR   # prints `export SLURM_CONF=...`
    python -m cpnet.executors.slurm_testbed stop DIR
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cpnet.core.errors import CpnetError

NODE = "cpnet0"


def slurm_installed() -> bool:
    return all(shutil.which(b) for b in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"))


def accounting_installed() -> bool:
    """slurmdbd, its MySQL plugin's server (MariaDB) and the accounting clients are present."""
    return all(shutil.which(b, path=_SBIN_PATH) for b in ("slurmdbd", "sacctmgr", "sacct", "mariadbd", "mariadb-install-db"))


_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


def rest_installed() -> bool:
    """Slurm's REST daemon is present (Debian: slurmrestd)."""
    return shutil.which("slurmrestd", path=_SBIN_PATH) is not None


_PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu/slurm-wlm", "/usr/lib/aarch64-linux-gnu/slurm-wlm", "/usr/lib/slurm", "/usr/lib64/slurm", "/usr/local/lib/slurm")


def jwt_installed() -> bool:
    """Slurm's auth/jwt plugin is present (Debian: slurm-wlm-jwt-plugin, which slurm-wlm recommends)."""
    return any(Path(d, "auth_jwt.so").exists() for d in _PLUGIN_DIRS)


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
    accounting: bool = field(default_factory=accounting_installed)
    cluster: str = "cpnettest"
    jwt: bool = field(default_factory=jwt_installed)
    _db_port: int = field(default=0, init=False, repr=False)
    _mariadbd: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _rest: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict, init=False, repr=False)  # pid -> slurmrestd

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def jobcomp(self) -> Path:
        return self.root / "jobcomp.txt"

    @property
    def db_dir(self) -> Path:
        return self.root / "db"

    @property
    def jwt_key(self) -> Path:
        return self.root / "jwt.key"

    def _jwt_lines(self) -> list[str]:
        return ["AuthAltTypes=auth/jwt", f"AuthAltParameters=jwt_key={self.jwt_key}"] if self.jwt else []

    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf), "PATH": _SBIN_PATH}

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
            if not dev.exists() and not dev.is_symlink():
                try:  # a private node of the null device: whatever Slurm does to its GPU files stays off /dev/null
                    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
                    dev.chmod(0o666)
                except PermissionError:  # no CAP_MKNOD: the shared device itself
                    dev.symlink_to("/dev/null")
        if self.jwt and not self.jwt_key.exists():
            self.jwt_key.write_bytes(secrets.token_bytes(32))
            self.jwt_key.chmod(0o600)
        host = socket.gethostname().split(".")[0]
        if self.accounting:
            dbd_port = _free_port()
            accounting = [
                "AccountingStorageType=accounting_storage/slurmdbd",
                "AccountingStorageHost=127.0.0.1",
                f"AccountingStoragePort={dbd_port}",
                f"AccountingStoragePass={r}/munge/munge.sock",  # with auth/munge: the munged to reach slurmdbd through
                "AccountingStorageTRES=gres/gpu",
                "JobAcctGatherType=jobacct_gather/linux",
            ]
            self._write_db_config(host, dbd_port)
        else:
            accounting = ["AccountingStorageType=accounting_storage/none", "JobAcctGatherType=jobacct_gather/none"]
        self.conf.write_text(
            "\n".join(
                [
                    f"ClusterName={self.cluster}",
                    f"SlurmctldHost={host}(127.0.0.1)",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={r}/munge/munge.sock",
                    *self._jwt_lines(),
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
                    *accounting,
                    "JobCompType=jobcomp/filetxt",
                    f"JobCompLoc={self.jobcomp}",
                    "GresTypes=gpu",
                    "MinJobAge=300",
                    "SchedulerParameters=sched_interval=1",
                    f"NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={host} CPUs={self.cpus} RealMemory=1024 "
                    f"Gres=gpu:{self.gres_type}:{self.gpus} State=UNKNOWN",
                    f"PartitionName={self.partition} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        (r / "gres.conf").write_text(f"AutoDetect=off\nNodeName={NODE} Name=gpu Type={self.gres_type} File={r}/dev/gpu[0-{self.gpus - 1}]\n")

    def _write_db_config(self, host: str, dbd_port: int) -> None:
        """MariaDB's init file (slurmdbd's own database user) and slurmdbd.conf (next to slurm.conf,
        where slurmdbd looks for it; mode 600 as it holds the database password)."""
        r, db = self.root, self.db_dir
        db.mkdir(parents=True, exist_ok=True)
        db.chmod(0o700)
        self._db_port = _free_port()
        password = secrets.token_hex(12)
        init = db / "init.sql"
        init.write_text(
            f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
            f"ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';\n"
        )
        init.chmod(0o600)
        dbd = r / "slurmdbd.conf"
        dbd.write_text(
            "\n".join(
                [
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={r}/munge/munge.sock",
                    *self._jwt_lines(),
                    f"DbdHost={host}",
                    "DbdAddr=127.0.0.1",
                    f"DbdPort={dbd_port}",
                    "SlurmUser=root",
                    f"PidFile={r}/slurmdbd.pid",
                    f"LogFile={r}/log/slurmdbd.log",
                    "StorageType=accounting_storage/mysql",
                    "StorageHost=127.0.0.1",
                    f"StoragePort={self._db_port}",
                    "StorageUser=slurm",
                    f"StoragePass={password}",
                    "StorageLoc=slurm_acct_db",
                    "",
                ]
            )
        )
        dbd.chmod(0o600)

    def _start_accounting(self, deadline: float) -> None:
        """MariaDB (initialised on first use), then slurmdbd, then the cluster's record in it."""
        r, db = self.root, self.db_dir
        data = db / "data"
        # A test database: durability traded for speed (slurmdbd creates ~40 tables on first start).
        opts = [
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--skip-log-bin",
        ]
        if not (data / "mysql").is_dir():
            out = self._run("mariadb-install-db", *opts, "--skip-test-db", "--auth-root-authentication-method=socket", timeout_s=120)
            if out.returncode != 0:
                raise CpnetError(f"mariadb-install-db failed ({out.stderr.strip()[-300:] or out.returncode})")
        with open(r / "log" / "mariadbd.log", "ab") as log:
            self._mariadbd = subprocess.Popen(
                [
                    "mariadbd",
                    *opts,
                    f"--socket={db}/mariadbd.sock",
                    f"--pid-file={db}/mariadbd.pid",
                    "--bind-address=127.0.0.1",
                    f"--port={self._db_port}",
                    f"--init-file={db}/init.sql",
                ],
                env={**os.environ, **self.env()},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # outlives `slurm_testbed start`, stopped by its pid file
            )
        _wait_for(lambda: _listening(self._db_port), deadline, f"MariaDB did not listen on port {self._db_port}", r)
        out = self._run("slurmdbd")
        if out.returncode != 0:
            raise CpnetError(f"slurmdbd failed to start ({out.stderr.strip() or out.returncode}); see {r}/log")

        def cluster_added() -> bool:
            listed = self._run("sacctmgr", "-n", "-P", "list", "cluster", "format=cluster")
            if listed.returncode != 0:
                return False  # slurmdbd still creating its tables
            if self.cluster in listed.stdout.split():
                return True
            return self._run("sacctmgr", "-i", "add", "cluster", self.cluster).returncode == 0

        _wait_for(cluster_added, deadline, "slurmdbd did not accept the cluster", r)

    def _run(self, *argv: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(argv, env={**os.environ, **self.env()}, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", f"{argv[0]} timed out after {timeout_s:g} s")

    def start(self, timeout_s: float = 60.0) -> None:
        if not slurm_installed():
            raise CpnetError("Slurm is not installed: apt-get install slurm-wlm munge (or run scripts/system-deps.sh)")
        if self.accounting and not accounting_installed():
            raise CpnetError("Slurm accounting is not installed: apt-get install slurmdbd mariadb-server (or run scripts/system-deps.sh)")
        self.write_config()
        r = self.root
        deadline = time.monotonic() + timeout_s
        munged = (
            "munged",
            "--force",
            f"--key-file={r}/munge/munge.key",
            f"--socket={r}/munge/munge.sock",
            f"--pid-file={r}/munge/munged.pid",
            f"--log-file={r}/log/munged.log",
            f"--seed-file={r}/munge/seed",
        )
        daemons = [("slurmctld", "-c"), ("slurmd", "-N", NODE)]  # -c: a clean start, no state from an earlier run
        try:
            self._start(munged)
            if self.accounting:
                self._start_accounting(deadline)
            for argv in daemons:
                self._start(argv)
            _wait_for(lambda: self._run("sinfo", "-h", "-N", "-o", "%t").stdout.strip() == "idle", deadline, "Slurm node did not become idle", r)
        except BaseException:
            self.stop()
            raise

    def _start(self, argv: tuple[str, ...]) -> None:
        out = self._run(*argv)
        if out.returncode != 0:
            raise CpnetError(f"{argv[0]} failed to start ({out.stderr.strip() or out.returncode}); see {self.root}/log")

    # -- beyond the cluster itself: a login node of another cluster, tokens, slurmrestd -------------
    def remote_conf(self, cluster: str = "elsewhere") -> Path:
        """A client slurm.conf of cluster `cluster`, whose controller (a closed port, 2 s message
        timeout) never answers, sharing this cluster's munge and slurmdbd: commands run with it
        reach this cluster only through `--clusters=<this cluster>`, routed by slurmdbd."""
        lines = []
        for line in self.conf.read_text().splitlines():
            key = line.partition("=")[0]
            if key == "ClusterName":
                line = f"ClusterName={cluster}"
            elif key == "SlurmctldPort":
                line = f"SlurmctldPort={_free_port()}"  # bound and released: nobody listens there
            lines.append(line)
        path = self.root / f"{cluster}.conf"
        path.write_text("\n".join([*lines, "MessageTimeout=2", ""]))
        return path

    def token(self, user: str = "root", lifespan_s: int = 3600) -> str:
        """A JWT for `user` from `scontrol token` (needs `jwt=True`)."""
        out = self._run("scontrol", "token", f"username={user}", f"lifespan={lifespan_s}")
        if out.returncode != 0 or "SLURM_JWT=" not in out.stdout:
            raise CpnetError(f"scontrol token failed ({out.stderr.strip() or out.returncode})")
        return out.stdout.strip().partition("SLURM_JWT=")[2].split()[0]

    def start_rest(self, jwt: bool = False, timeout_s: float = 20.0) -> str:
        """Start a slurmrestd for this cluster; returns its URL: `unix:<root>/slurmrestd.sock`
        (rest_auth/local), or with `jwt` `http://127.0.0.1:<free port>` (rest_auth/jwt, also on
        `unix:<root>/slurmrestd-jwt.sock`)."""
        if not rest_installed():
            raise CpnetError("slurmrestd is not installed: apt-get install slurmrestd (or run scripts/system-deps.sh)")
        if jwt and not self.jwt:
            raise CpnetError("this test cluster has no JWT key (jwt=False, or the auth/jwt plugin is not installed)")
        env = {**os.environ, **self.env(), "SLURMRESTD_SECURITY": "disable_user_check"}
        name = "slurmrestd-jwt" if jwt else "slurmrestd"
        sock = self.root / f"{name}.sock"
        sock.unlink(missing_ok=True)
        listen = [f"unix:{sock}"]
        if jwt:
            port = _free_port()
            url, auth = f"http://127.0.0.1:{port}", "rest_auth/jwt"
            listen.append(f"127.0.0.1:{port}")  # and the socket, where a request without a token is refused (401)
            env["SLURM_JWT"] = "daemon"  # slurmrestd itself authenticates with each request's token
        else:
            url, auth = f"unix:{sock}", "rest_auth/local"
        plugins = "openapi/v0.0.38" + (",openapi/dbv0.0.38" if self.accounting else "")
        with open(self.root / "log" / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                [shutil.which("slurmrestd", path=_SBIN_PATH) or "slurmrestd", "-s", plugins, "-a", auth, *listen],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._rest[proc.pid] = proc
        (self.root / f"{name}.pid").write_text(f"{proc.pid}\n")

        def answering() -> bool:
            if proc.poll() is not None:
                raise CpnetError(f"slurmrestd exited {proc.returncode}; see {self.root}/log/{name}.log")
            return sock.exists() and (not jwt or _listening(port))

        _wait_for(answering, time.monotonic() + timeout_s, "slurmrestd did not listen", self.root)
        return url

    def stop_rest(self, jwt: bool | None = None) -> None:
        """Stop the REST daemon `start_rest(jwt)` started, or with None both (by their pid files)."""
        names = {False: "slurmrestd", True: "slurmrestd-jwt"}
        self._terminate(tuple(self.root / f"{names[j]}.pid" for j in ((False, True) if jwt is None else (jwt,))))
        self._rest = {pid: proc for pid, proc in self._rest.items() if proc.poll() is None}

    def stop(self, clean: bool = False) -> None:
        """Stop slurmrestd, then slurmd and slurmctld, then slurmdbd and munged, then MariaDB (by
        their pid files, each group at once); safe to call twice. `clean`: also delete the database's files."""
        r = self.root
        self.stop_rest()
        for group in ((r / "slurmd.pid", r / "slurmctld.pid"), (r / "slurmdbd.pid", r / "munge" / "munged.pid"), (self.db_dir / "mariadbd.pid",)):
            self._terminate(group)
        if clean:
            shutil.rmtree(self.db_dir, ignore_errors=True)

    def _terminate(self, pid_files: tuple[Path, ...], wait_s: float = 10.0) -> None:
        """SIGTERM each, wait for all, SIGKILL what is left; the pid files are removed."""
        pids = []
        for pid_file in pid_files:
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
            except (OSError, ValueError):
                pass
            pid_file.unlink(missing_ok=True)
        deadline = time.monotonic() + wait_s
        while pids:
            pids = [pid for pid in pids if self._alive(pid)]
            if pids and time.monotonic() > deadline:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                break
            time.sleep(0.05)

    def _alive(self, pid: int) -> bool:
        if self._mariadbd is not None and self._mariadbd.pid == pid:
            return self._mariadbd.poll() is None  # our own child: reaped here, else it lingers as a zombie
        if pid in self._rest:
            return self._rest[pid].poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(ready: Callable[[], bool], deadline: float, what: str, logs: Path) -> None:
    while not ready():
        if time.monotonic() > deadline:
            raise CpnetError(f"{what} in time; see {logs}/log")
        time.sleep(0.3)


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
