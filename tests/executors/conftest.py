"""Fixtures for the engine executors: a real local Ray cluster (in the Ray test module) and a real
single-host Slurm cluster (session-scoped, below)."""

from __future__ import annotations

import os

# Ray treats 127.0.0.1 as "localhost" and swaps it for the host's routable IP (so a GCS bound to
# 127.0.0.1 is dialled at the wrong address) unless multi-host cluster mode is off. Tests keep every
# Ray process on the loopback interface. Read by ray at import time, so set before any test imports it.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
