"""The simulator: replay a trace through the pure scheduler on a virtual clock.

`run_simulation(...)` (driver) produces a `SimulationResult`; `compute_metrics(result)` turns it into
the numbers reports quote. Trace readers live in `cpnet.sim.traces`.
"""

from cpnet.sim.driver import run_simulation
from cpnet.sim.engine import EventLoop, SimClock, SimulationError
from cpnet.sim.hooks import SimEvent, SimState
from cpnet.sim.metrics import Metrics, compute_metrics, jain_index, percentile
from cpnet.sim.records import JobOutcome, JobRecord, PlacementChange, SimulationResult, UtilizationSeries

__all__ = [
    "EventLoop",
    "JobOutcome",
    "JobRecord",
    "Metrics",
    "PlacementChange",
    "SimClock",
    "SimEvent",
    "SimState",
    "SimulationError",
    "SimulationResult",
    "UtilizationSeries",
    "compute_metrics",
    "jain_index",
    "percentile",
    "run_simulation",
]
