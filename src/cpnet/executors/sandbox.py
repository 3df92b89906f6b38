"""Who a local job runs as, where, and with which environment.

A job is untrusted code. Under `users` isolation (the default when the server is root) each tenant's
jobs run as that tenant's own unprivileged user (created on first use as a system user with no
login shell, or mapped from configuration; uid 0 is never used), with `no_new_privs` set, in a
private workspace `<job_root>/<job>` (mode 0700, owned by that user) that is also its HOME,
with an environment built from nothing but the job spec and the `CPNET_*` contract. The server's
store, logs and run files stay owned by the server user with modes 0600/0700, so a job can read
neither the database nor another tenant's logs, workspace or process environment, and cannot
signal another tenant's processes.

Without root there is one user to run as. `single-tenant` (the default then) runs the jobs of one
tenant only and refuses the others; `shared` runs every tenant's jobs as the server's own user,
which lets one tenant's job read another's files and the server's database: it is only for a
trusted single-operator machine and must be asked for (`cpnet serve --insecure-shared-user`).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import stat
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cpnet.core.errors import CpnetError

ISOLATION_MODES = ("auto", "users", "single-tenant", "shared")
SETPRIV = "/usr/bin/setpriv"
JOB_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # PATH a job starts with unless its spec sets one
USER_PREFIX = "cpnet-"


class SandboxError(CpnetError):
    """The local executor cannot isolate jobs as configured; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class JobUser:
    name: str
    uid: int
    gid: int


def tenant_user_name(tenant: str) -> str:
    """The system user of a tenant: `cpnet-` + 10 hex digits of the name's SHA-256.

    Hashed because tenant names allow 64 characters and dots, and user names should stay within
    32 portable characters; the mapping is stable, so a restarted server finds the same user."""
    return USER_PREFIX + hashlib.sha256(tenant.encode()).hexdigest()[:10]


def resolve_isolation(mode: str) -> str:
    if mode not in ISOLATION_MODES:
        raise SandboxError(f"unknown isolation '{mode}'; valid: {', '.join(ISOLATION_MODES)}")
    if mode == "auto":
        return "users" if os.geteuid() == 0 else "single-tenant"
    if mode == "users" and os.geteuid() != 0:
        raise SandboxError("isolation 'users' runs each tenant's jobs as its own user, which needs a server started as root")
    return mode


def ensure_user(name: str, *, create: bool) -> JobUser:
    """The user `name`, created as a locked system user when `create` and it does not exist."""
    for attempt in range(20):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            if not create:
                raise SandboxError(f"user '{name}' does not exist; create it or remove it from tenant_users") from None
            res = subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--comment",
                    "cpnet tenant jobs",
                    name,
                ],
                capture_output=True,
                text=True,
            )
            if res.returncode not in (0, 9):  # 9: created meanwhile by another server; other codes: /etc/passwd busy, retry
                if attempt == 19:
                    raise SandboxError(f"cannot create user '{name}': {res.stderr.strip()}") from None
                time.sleep(0.05 * (attempt + 1))
            continue
        if pw.pw_uid == 0 or pw.pw_gid == 0:
            raise SandboxError(f"user '{name}' has uid or gid 0; jobs never run as root")
        return JobUser(name, pw.pw_uid, pw.pw_gid)
    raise SandboxError(f"cannot find or create user '{name}'")


def check_reachable(path: Path) -> None:
    """Every ancestor of `path` must let other users traverse it, or job users cannot enter their workspaces."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise SandboxError(
                f"job root {path} is not reachable by job users: {p} has mode {stat.filemode(mode)} "
                f"(others may not enter it); choose a job root whose parents are world-executable (e.g. chmod o+x {p}, or --job-root)"
            )


def job_env(spec_env: Mapping[str, str], cpnet_env: Mapping[str, str], home: str) -> dict[str, str]:
    """A job's whole environment: defaults, then the spec's variables, then the CPNET_* contract."""
    env = {"PATH": JOB_PATH, "HOME": home, "TMPDIR": f"{home}/tmp", "LANG": "C.UTF-8"}
    env.update(spec_env)
    env.update(cpnet_env)
    return env


def make_private_dir(path: Path, user: JobUser | None) -> None:
    """Create `path` (mode 0700) owned by `user` (or the server's user when None)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user is not None:
        os.chown(path, user.uid, user.gid)
    os.chmod(path, 0o700)
