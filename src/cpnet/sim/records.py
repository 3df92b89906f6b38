"""What a simulation run produces: one record per job, a utilization timeline, and the run's inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from cpnet.core.energy import EnergySignals
from cpnet.core.model import Site, Tenant


class JobOutcome(StrEnum):
    FINISHED = "finished"
    INFEASIBLE = "infeasible"  # the policy declared it can never run here; recorded as failed
    UNFINISHED = "unfinished"  # still waiting or running when the simulation stopped


class PlacementChange(NamedTuple):
    """The job started (or moved) at `time_s` on `num_devices` x `accelerator` at `site`.

    A NamedTuple rather than a dataclass: the driver makes one per start, and tuples are cheap.
    """

    time_s: float
    site: str
    accelerator: str
    num_devices: int


class RunInterval(NamedTuple):
    """The job held `num_devices` x `accelerator` at `site` over [start_s, end_s) (progress or not)."""

    start_s: float
    end_s: float
    site: str
    accelerator: str
    num_devices: int


class JobRecord(NamedTuple):
    """One job's life. `arrival_index` is its position in arrival order (0-based), used by `measure`
    windows (not `index`, which would shadow `tuple.index`).

    `device_s` maps (site, accelerator) to device-seconds held there, restart overheads included.
    A NamedTuple for the same reason as PlacementChange: one per job, made in the hot loop.
    """

    arrival_index: int
    job_id: str
    tenant: str
    job_type: str
    num_devices: int
    arrival_s: float
    outcome: JobOutcome
    first_start_s: float | None = None
    finish_s: float | None = None
    reason: str = ""
    placements: tuple[PlacementChange, ...] = ()
    device_s: Mapping[tuple[str, str], float] = MappingProxyType({})
    restarts: int = 0
    events: int = 0  # state changes of this job: arrival, starts, moves, preemptions, end
    intervals: tuple[RunInterval, ...] = ()  # every stretch of held devices, in time order
    data_site: str | None = None
    data_moved_gb: float = 0.0  # input data copied to sites other than data_site (once per site)
    data_moved_gb_km: float = 0.0  # the same, times great-circle km from data_site
    transfer_s: float = 0.0  # start delays spent waiting for data transfers
    deadline_s: float | None = None
    preemptions: int = 0  # stops by the policy's preemptions (not moves, not the end)
    work_lost_device_s: float = 0.0  # device-seconds of progress the preemptions threw away (run_simulation's preemption_loses_work)

    @property
    def jct_s(self) -> float | None:
        return None if self.finish_s is None else self.finish_s - self.arrival_s

    @property
    def queue_s(self) -> float | None:
        """Initial queueing delay: arrival to first start."""
        return None if self.first_start_s is None else self.first_start_s - self.arrival_s

    @property
    def total_device_s(self) -> float:
        return sum(self.device_s.values())


@dataclass(frozen=True, slots=True)
class UtilizationSeries:
    """Busy devices of one accelerator model as a step function: `busy[i]` holds on [times[i], times[i+1])."""

    model: str
    capacity: int
    times_s: tuple[float, ...]
    busy: tuple[int, ...]

    def busy_device_s(self, start_s: float, end_s: float) -> float:
        """Integral of busy devices over [start_s, end_s]."""
        total = 0.0
        times, busy = self.times_s, self.busy
        for i, t0 in enumerate(times):
            t1 = times[i + 1] if i + 1 < len(times) else end_s
            lo, hi = max(t0, start_s), min(t1, end_s)
            if hi > lo:
                total += (hi - lo) * busy[i]
        return total


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Everything metrics and reports need; no wall-clock values, so equal inputs give equal results."""

    policy: str
    seed: int
    round_s: float | None
    records: tuple[JobRecord, ...]  # in arrival order
    start_s: float  # first arrival
    end_s: float  # last event
    utilization: Mapping[str, UtilizationSeries]  # by accelerator model
    sites: tuple[Site, ...]
    tenants: Mapping[str, Tenant]
    tdp_w: Mapping[str, float | None]  # by accelerator model, from the catalog
    measure: tuple[int, int] | None = None
    events: int = 0
    decisions: int = 0  # schedule() calls
    energy: EnergySignals | None = None  # time-varying price and carbon (None: the sites' static values)

    def measured(self) -> tuple[JobRecord, ...]:
        """Records inside the `measure` window (all records when there is none)."""
        if self.measure is None:
            return self.records
        lo, hi = self.measure
        return tuple(r for r in self.records if lo <= r.arrival_index < hi)
