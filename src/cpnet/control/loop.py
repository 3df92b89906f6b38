"""The wall-clock driver: runs `Reconciler.step()` in a background thread every `interval_s`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cpnet.control.reconciler import Reconciler, StepReport

log = logging.getLogger("cpnet.control")


class WallClock:
    """Seconds since the Unix epoch (the control plane's timestamps are wall time)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to (tests, fast replays)."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now(self) -> float:
        return self._now

    def set(self, t_s: float) -> None:
        if t_s < self._now:
            raise ValueError(f"clock cannot go back from {self._now} to {t_s}")
        self._now = t_s

    def advance(self, dt_s: float) -> None:
        self.set(self._now + dt_s)


class ReconcilerLoop:
    """start() / stop(); a step that raises is logged and retried on the next tick.

    `on_step(report, seconds)`, when given, hears of every step and its wall duration (report None
    when the step raised): the metrics hook (`cpnet.api.prom.observe_step`)."""

    def __init__(self, reconciler: Reconciler, interval_s: float = 0.5, on_step: Callable[[StepReport | None, float], None] | None = None) -> None:
        self.reconciler = reconciler
        self.interval_s = interval_s
        self.on_step = on_step
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cpnet-reconciler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            report: StepReport | None = None
            try:
                report = self.reconciler.step()
            except Exception:  # an infrastructure hiccup (db busy) must not end the loop
                log.exception("reconciler step failed; retrying")
            if self.on_step is not None:
                try:
                    self.on_step(report, time.perf_counter() - t0)
                except Exception:
                    log.exception("reconciler step hook failed")
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
