"""Where a control plane keeps its state (SQLite file, job logs, checkpoints) when not told.

One place per user, whatever the current directory, so that a tenant created in one shell is known
to a server started in another: $CPNET_HOME, else $XDG_DATA_HOME/cpnet, else ~/.local/share/cpnet
(the XDG base-directory rule for user data).
"""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> str:
    home = os.environ.get("CPNET_HOME")
    if home:
        return str(Path(home).expanduser())
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return str(base / "cpnet")
