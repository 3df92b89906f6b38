"""`python -m cpnet.api.worker`: one stateless API worker of a multi-process `cpnet serve`.

Started only by the leader (`cpnet.api.server.run_multiprocess`), which passes in $CPNET_WORKER_SPEC
the database URL, the run directory, the accelerator models it accepts and the listening socket's
descriptor.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import threading
import time


def _die_with_leader(leader_pid: int) -> None:
    # Linux: the kernel sends SIGKILL when the leader dies, however it dies (kill -9 included).
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    # Elsewhere (and for a leader that died before prctl took effect): watch the parent.
    def watch() -> None:
        while os.getppid() == leader_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="cpnet-leader-watch", daemon=True).start()


def main() -> None:
    from cpnet.api.server import WORKER_SPEC_ENV

    spec = json.loads(os.environ.pop(WORKER_SPEC_ENV))
    _die_with_leader(int(spec["leader_pid"]))
    from cpnet.api.server import build_worker_app, run_worker
    from cpnet.api.server_log import configure_from_env

    configure_from_env()

    app = build_worker_app(
        spec["db"], spec["run_dir"], frozenset(spec["models"]), local_workdirs=bool(spec.get("local_workdirs")), scenario=spec.get("scenario")
    )
    run_worker(app, int(spec["fd"]))


if __name__ == "__main__":
    main()
