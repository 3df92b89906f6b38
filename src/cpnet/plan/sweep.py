"""The plan's replays: each batch of what-if networks through cpnet.sim.parallel's engines (serial,
worker processes or a Ray cluster), so a replay's result does not depend on where it ran."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cpnet.core.model import Accelerator, JobSpec
from cpnet.core.snapshot import ThroughputTable
from cpnet.plan.search import Candidate, with_purchase
from cpnet.sched.runner import SchedulerConfig
from cpnet.sim.parallel import RunOutcome, RunSpec, SharedInputs, run_in_processes, run_on_ray, run_serial
from cpnet.sim.records import SimulationResult


@dataclass
class _Sink:
    """Progress of a batch: `on_run` once per ended replay (its label)."""

    on_run: Callable[[str], None] | None
    labels: dict[int, str] = field(default_factory=dict)

    def advance(self, index: int, now_s: float, done: int) -> None:
        pass

    def finish(self, outcome: RunOutcome) -> None:
        if self.on_run is not None:
            self.on_run(self.labels.get(outcome.index, ""))


@dataclass
class Sweep:
    """Replays batches of (candidate, extra devices) on `network` with the sampled `jobs`."""

    network: Any
    jobs: Sequence[JobSpec]
    throughput: ThroughputTable
    catalog: Mapping[str, Accelerator]
    policy: SchedulerConfig
    until_s: float
    workers: int = 1
    ray_address: str | None = None
    seed: int = 0
    on_run: Callable[[str], None] | None = None  # called as each replay ends (a progress bar)
    stop_misses: tuple[str, float, int] | None = None  # end a replay once it certainly misses (cpnet.sim.early_stop)
    _shared: SharedInputs | None = None

    def __call__(self, batch: Sequence[tuple[Candidate | None, int]]) -> list[SimulationResult]:
        if self._shared is None:
            self._shared = SharedInputs(self.network, self.throughput, self.catalog, {self.seed: list(self.jobs)})
        specs = []
        sink = _Sink(self.on_run)
        for i, (cand, devices) in enumerate(batch):
            label = "as it is" if cand is None else f"+{devices} {cand.model} at {cand.site}"
            sink.labels[i] = label
            net = with_purchase(self.network, cand, devices)
            specs.append(RunSpec(i, self.policy, self.seed, network=net, until_s=self.until_s, name=f"replay {label}", stop_misses=self.stop_misses))
        if self.ray_address is not None:
            outcomes = run_on_ray(self.ray_address, self._shared, specs, sink)
        elif self.workers > 1 and len(specs) > 1:
            outcomes = run_in_processes(self._shared, specs, min(self.workers, len(specs)), sink)
        else:
            outcomes = run_serial(self._shared, specs, sink)
        return [o.result for o in sorted(outcomes, key=lambda o: o.index)]
