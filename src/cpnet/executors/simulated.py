"""`simulated`: an executor that runs nothing; a job ends `total_steps / steps_per_s` seconds after
launch on the injected clock. With a manual clock it lets the control plane replay a job list as
the simulator does (the parity test), and it serves load tests that must not spawn processes.

The work of a launch comes from the request's env: `CPNET_JOB_TYPE` and `CPNET_TOTAL_STEPS`
(the reconciler sets both). Progress made before a cancel is kept for the next attempt.

Failure drills: `fail_site` takes a site down as a real engine would see it (its jobs are LOST,
its inventory drops to zero, and work since launch is lost); `restore_site` brings it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cpnet.core.clock import Clock
from cpnet.core.snapshot import ThroughputTable
from cpnet.executors.base import LaunchRequest, Observation, RunStatus
from cpnet.executors.registry import register_executor


@dataclass
class _SimRun:
    attempt: int
    site: str
    start_s: float
    rate: float
    remaining_steps: float
    final: RunStatus | None = None

    @property
    def finish_s(self) -> float:
        return self.start_s + self.remaining_steps / self.rate if self.rate > 0 else float("inf")


@register_executor("simulated")
class SimulatedExecutor:
    name = "simulated"

    def __init__(self, clock: Clock, throughput: ThroughputTable, inventory: Mapping[str, Mapping[str, int]] | None = None) -> None:
        self.clock = clock
        self.throughput = throughput
        self._inventory = {s: dict(inv) for s, inv in (inventory or {}).items()}
        self._runs: dict[str, _SimRun] = {}
        self._done_steps: dict[str, float] = {}
        self._down: dict[str, dict[str, int]] = {}  # failed site -> its inventory before the failure

    def inventory(self) -> Mapping[str, Mapping[str, int]]:
        return self._inventory

    def launch(self, request: LaunchRequest) -> str:
        p = request.placement
        rate = self.throughput.steps_per_s(request.env.get("CPNET_JOB_TYPE", "generic"), p.accelerator, p.num_devices) or 0.0
        total = float(request.env.get("CPNET_TOTAL_STEPS", "1"))
        remaining = max(total - self._done_steps.get(request.job_id, 0.0), 0.0)
        self._runs[request.job_id] = _SimRun(request.attempt, p.site, self.clock.now(), rate, remaining)
        return f"sim:{request.job_id}:{request.attempt}"

    def observe(self) -> list[Observation]:
        now = self.clock.now()
        out = []
        for job_id, run in self._runs.items():
            if run.final is None and now >= run.finish_s:
                run.final = RunStatus.SUCCEEDED
            status = run.final or RunStatus.RUNNING
            code = 0 if status is RunStatus.SUCCEEDED else None
            why = f"site {run.site} failed" if status is RunStatus.LOST else ""
            out.append(Observation(job_id, run.attempt, f"sim:{job_id}:{run.attempt}", status, code, why))
        return out

    def fail_site(self, site_id: str) -> None:
        """The site dies: its running jobs are LOST and it reports no devices until restored."""
        self._down[site_id] = self._inventory.get(site_id, {})
        self._inventory[site_id] = {m: 0 for m in self._down[site_id]}
        for run in self._runs.values():
            if run.site == site_id and run.final is None:
                run.final = RunStatus.LOST

    def restore_site(self, site_id: str) -> None:
        if site_id in self._down:
            self._inventory[site_id] = self._down.pop(site_id)

    def next_finish_s(self) -> float | None:
        """When the next running job ends (for drivers that jump a manual clock)."""
        times = [r.finish_s for r in self._runs.values() if r.final is None]
        return min(times) if times else None

    def cancel(self, job_id: str, handle: str) -> None:
        run = self._runs.get(job_id)
        if run is not None and run.final is None:
            done = (self.clock.now() - run.start_s) * run.rate
            self._done_steps[job_id] = self._done_steps.get(job_id, 0.0) + done
            run.final = RunStatus.CANCELLED

    def adopt(self, job_id: str, attempt: int, handle: str) -> bool:
        return job_id in self._runs

    def forget(self, job_id: str) -> None:
        self._runs.pop(job_id, None)
