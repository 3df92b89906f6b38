"""Where the CLI gets the database URL: --db, $CPNET_DB_URL, or --db-url-file; never a password in argv.

Every local user can read a process's command line (/proc/<pid>/cmdline), jobs included, so a
password given as `--db postgresql://user:secret@...` is refused. The environment (readable only
by the process's user) and a file of mode 0600 are the two places for credentials.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Annotated

import typer

from cpnet.core.errors import CpnetError

ENV_VAR = "CPNET_DB_URL"

DbOpt = Annotated[
    str | None,
    typer.Option(help=f"SQLAlchemy URL without a password; default ${ENV_VAR}, else sqlite:///DATA_DIR/cpnet.db. postgresql+psycopg://... works the same"),
]
DbFileOpt = Annotated[str | None, typer.Option(help="file holding the database URL (with its password), mode 0600")]


def _has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url  # here: SQLAlchemy loads only for commands given --db
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password is not None
    except ArgumentError:
        return False


def db_url(db: str | None, db_url_file: str | None) -> str | None:
    """The database URL to use, or None for the default SQLite file; raises CpnetError for a leaked password."""
    if db is not None and db_url_file is not None:
        raise CpnetError("give --db or --db-url-file, not both")
    if db is not None:
        if _has_password(db):
            raise CpnetError(
                f"--db contains a password, which every local user (and every job) can read in /proc/<pid>/cmdline; "
                f"put the URL in ${ENV_VAR} (or, for `cpnet serve`, in a file of mode 0600 given by --db-url-file)"
            )
        return db
    if db_url_file is not None:
        path = Path(db_url_file)
        try:
            mode = path.stat().st_mode
            text = path.read_text().strip()
        except OSError as exc:
            raise CpnetError(f"--db-url-file {path}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CpnetError(f"--db-url-file {path} has mode {stat.filemode(mode)}; others may read it: chmod 600 {path}")
        if not text:
            raise CpnetError(f"--db-url-file {path} is empty; expected one SQLAlchemy URL")
        return text
    return os.environ.get(ENV_VAR) or None
