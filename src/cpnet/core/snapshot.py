"""The scheduler's input (Snapshot) and output (Decision).

A Snapshot is everything `schedule()` may look at; a Decision is everything it may change.
Dynamic quantities that grow while a job runs (attained service, steps done) are stored as a
value at `as_of_s` plus a rate, so that views change only when a job starts or stops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cpnet.core.energy import EnergySignals
from cpnet.core.model import Accelerator, JobSpec, Link, Site, Tenant
from cpnet.core.tenancy import TenantTree


class ThroughputTable(Protocol):
    """Steps per second of a job type on `num_devices` devices of one accelerator model."""

    def steps_per_s(self, job_type: str, accelerator: str, num_devices: int) -> float | None:
        """None when the job type cannot run on that accelerator (unknown or does not fit)."""
        ...


@dataclass(frozen=True, slots=True)
class Placement:
    """A gang of `num_devices` devices of one accelerator model at one site."""

    job_id: str
    site: str
    accelerator: str
    num_devices: int

    @property
    def pool(self) -> tuple[str, str]:
        return (self.site, self.accelerator)


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as the scheduler sees it. `placement` is None while the job waits."""

    spec: JobSpec
    placement: Placement | None = None
    as_of_s: float = 0.0
    attained_device_s: float = 0.0  # device-seconds received up to as_of_s
    steps_done: float = 0.0  # steps completed up to as_of_s
    steps_per_s: float = 0.0  # current rate while placed, else 0
    time_on_s: Mapping[tuple[str, str], float] = field(default_factory=dict)  # wall s per pool, up to as_of_s
    restarts: int = 0
    checkpoint_s: float | None = None  # newest checkpoint the job reported in this attempt (None: none known)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def running(self) -> bool:
        return self.placement is not None

    def attained_at(self, now_s: float) -> float:
        if self.placement is None:
            return self.attained_device_s
        return self.attained_device_s + (now_s - self.as_of_s) * self.placement.num_devices

    def steps_at(self, now_s: float) -> float:
        return self.steps_done + (now_s - self.as_of_s) * self.steps_per_s

    def time_on_at(self, now_s: float) -> dict[tuple[str, str], float]:
        out = dict(self.time_on_s)
        if self.placement is not None:
            pool = self.placement.pool
            out[pool] = out.get(pool, 0.0) + (now_s - self.as_of_s)
        return out


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """Devices a tenant's job held over one stretch that has ended (a metered fact, append-only)."""

    tenant: str
    job_type: str
    accelerator: str
    device_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Network state at `now_s`. `free` maps (site, accelerator) to idle device counts.

    `sites` are the sites that are up (placements go only there); `down_sites` are known sites that
    are not up now (down, or drained by an operator): the scheduler never places on them, it only
    reads them to tell a job that waits for one (`Infeasible.resolvable`) from one that no known
    site can ever hold.
    """

    now_s: float
    sites: tuple[Site, ...]
    jobs: tuple[JobView, ...]  # every job that is waiting or running, in arrival order
    free: Mapping[tuple[str, str], int]
    throughput: ThroughputTable
    catalog: Mapping[str, Accelerator] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    tenants: Mapping[str, Tenant] = field(default_factory=dict)
    seed: int = 0
    policy_state: Any = None  # opaque; what the previous Decision returned, passed back unchanged
    down_sites: tuple[Site, ...] = ()
    # The sites' price and carbon series (a perfect forecast); `sites` already carry the values at now_s.
    energy: EnergySignals | None = None
    # Every ended stretch of held devices so far, in end order; drivers only append, so a policy may
    # remember how far it has read (fair share with memory). Running jobs' stretches are in `jobs`.
    usage_log: Sequence[UsageEntry] = ()
    holds: Mapping[str, str] = field(default_factory=dict)  # tenant -> why its jobs are not admitted now (budget)
    # The tenant tree with its quotas and limits (cpnet.core.tenancy); None: tenants are flat, no quotas.
    tenant_tree: TenantTree | None = None

    def capacity(self) -> dict[tuple[str, str], int]:
        return {(s.id, m): n for s in self.sites for m, n in s.inventory.items() if n > 0}


@dataclass(frozen=True, slots=True)
class Infeasible:
    """A job that no up pool can hold, with why, and whether waiting can help.

    `resolvable` False (UnschedulableAndUnresolvable): no known site, up or down, can ever hold it;
    the job fails. True (Unschedulable): only pools that are unavailable now could hold it (a site
    that is down); the job waits and is decided again later.
    """

    job_id: str
    reason: str
    resolvable: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """Changes to apply. Running jobs not named keep their placement.

    `placements` start waiting jobs or move running ones; `preemptions` stop running jobs and
    return them to the queue. A job is in at most one of the two. `waiting` is the policy's own word
    on jobs it holds back ("quota: ...", "budget: ...", "fair-share: ..."); other waiting jobs get
    theirs from cpnet.sched.waiting. `preempted_why` says why each preemption was made.
    """

    placements: tuple[Placement, ...] = ()
    preemptions: tuple[str, ...] = ()
    infeasible: tuple[Infeasible, ...] = ()
    policy_state: Any = None
    waiting: Mapping[str, str] = field(default_factory=dict)
    preempted_why: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.placements or self.preemptions or self.infeasible)
