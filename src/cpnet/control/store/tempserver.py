"""A throwaway PostgreSQL server in a temporary directory, for tests and local development.

`initdb` + `pg_ctl start` on a free port on 127.0.0.1 with trust auth. PostgreSQL refuses to run
as root, so as root the server runs as the `postgres` system user (created by the Debian package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from cpnet.core.errors import CpnetError


def pg_bin_dir() -> Path | None:
    """Directory of initdb/pg_ctl: PATH first, then Debian's /usr/lib/postgresql/<ver>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TemporaryPostgres:
    """Context manager; `.url(dbname)` gives a SQLAlchemy URL, `.create_database(name)` makes one."""

    def __init__(self) -> None:
        bindir = pg_bin_dir()
        if bindir is None:
            raise CpnetError("PostgreSQL is not installed (no initdb); run scripts/system-deps.sh")
        self.bindir = bindir
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="cpnet-pg-"))
        self.data = self.dir / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, cwd="/")

    def start(self) -> TemporaryPostgres:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "cpnet", "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://cpnet@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=cpnet dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
