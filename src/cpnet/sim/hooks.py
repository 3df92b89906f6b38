"""What a simulation shows to code that watches it: one event per state change and a read-only state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from cpnet.core.snapshot import Placement

if TYPE_CHECKING:
    from cpnet.sim.driver import _Simulation


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One state change, as passed to `on_event`. `kind`: arrival, start, move, preempt, finish, infeasible."""

    kind: str
    time_s: float
    job_id: str
    placement: Placement | None = None


class SimState:
    """Read-only view of the driver's state for `on_event` hooks (invariant checks in tests); `stop` ends the run."""

    __slots__ = ("_sim",)

    def __init__(self, sim: _Simulation) -> None:
        self._sim = sim

    @property
    def now_s(self) -> float:
        return self._sim.now_s

    @property
    def capacity(self) -> Mapping[tuple[str, str], int]:
        return MappingProxyType(self._sim.capacity)

    @property
    def free(self) -> Mapping[tuple[str, str], int]:
        return MappingProxyType(self._sim.free)

    @property
    def busy_by_model(self) -> Mapping[str, int]:
        return MappingProxyType(self._sim.busy)

    def running(self) -> dict[str, Placement]:
        return {j.spec.id: j.placement for j in self._sim.jobs.values() if j.placement is not None}

    def waiting(self) -> list[str]:
        return [j.spec.id for j in self._sim.jobs.values() if j.placement is None]

    def stop(self) -> None:
        """End the replay now, as `until_s` would (event-driven runs): what is active is recorded unfinished."""
        self._sim.until_s = min(self._sim.until_s, self._sim.now_s)


EventHook = Callable[[SimEvent, SimState], None]
ProgressHook = Callable[[float, int], None]  # (simulated now_s, jobs ended so far)
