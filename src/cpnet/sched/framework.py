"""The scheduler's extension points, after the Kubernetes scheduler framework.

A policy is a composition (see cpnet.sched.registry and cpnet.sched.policies):

* **Filters** (`Filter`, in cpnet.sched.filters, one rule per file) answer for a (job, pool) whether
  the pool can hold the job, as a typed `Status`: `Schedulable`; `Unschedulable(reason)`: not now,
  the job waits (a site that is down); `UnschedulableAndUnresolvable(reason)`: never under this
  network, the job fails (no such model, no site allowed, no site within the latency SLO, ...).
  Filters run in order; a pool passes when no filter rejects it. `JobSpec.avoid_sites` is the one
  soft rule: pools there are kept only when no other pool passes (a job lost at a site retries
  elsewhere when it can). Capacity *now* (free devices) is
  not a filter call: the allocator checks it at placement time against the cycle's free counts,
  on the pools the filters left (one dict lookup per pool on the hot path).
* **Scores** (`Score`, in cpnet.sched.scores, one term per file) rank the pools that pass, each a
  normalised term in [0, 1] (higher is better) with its formula in its docstring. A `Profile`
  combines them: the weighted sum of `site_scores` orders the sites of one model, `tie_breaks` break
  exact ties in order, then the site id; `model_score` is the allocator's per-model term.
* The **allocator** decides which jobs run now and on which model: strict arrival order (fifo),
  least attained service (las) or Gavel's max-min LP (gavel-las), realised event-driven
  (cpnet.sched.policies.fifo) or by Gavel's round mechanism (cpnet.sched.rounds, `Allocator`).
* A **Policy** turns a Snapshot into a Decision; it is what `schedule()` calls.

Contracts: no extension point reads the clock, does I/O, or mutates its input; filters and scores
are pure functions of (job spec, pool, network), so their results may be memoised per job shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cpnet.core.model import Accelerator, JobSpec, Site
from cpnet.core.snapshot import Decision, Snapshot, ThroughputTable

if TYPE_CHECKING:
    from cpnet.sched.rounds import Alloc, AllocInput

# ---- typed filter outcomes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedulable:
    """The pool can hold the job (as far as this filter knows). Use the `SCHEDULABLE` singleton."""


SCHEDULABLE = Schedulable()


@dataclass(frozen=True, slots=True)
class Unschedulable:
    """Not now, maybe later without any change to the job: the job waits (e.g. its site is down)."""

    reason: str


@dataclass(frozen=True, slots=True)
class UnschedulableAndUnresolvable:
    """Never, under this network: if every known pool answers this, the job fails."""

    reason: str


Status = Schedulable | Unschedulable | UnschedulableAndUnresolvable


# ---- what filters and scores may read ------------------------------------------------------------


class Network(Protocol):
    """The network facts filters and scores read (cpnet.sched.feasibility.NetworkIndex)."""

    @property
    def throughput(self) -> ThroughputTable: ...

    def latency(self, a: str | None, b: str) -> float:
        """Shortest latency in ms from site `a` to site `b`; 0 when `a` is None, inf if unreachable."""
        ...

    def is_up(self, site_id: str) -> bool: ...

    def transfer_s(self, data_gb: float, a: str | None, b: str) -> float:
        """Seconds to move `data_gb` GB from `a` to `b` (cpnet.core.paths): 0 when a is None or a == b."""
        ...

    @property
    def catalog(self) -> Mapping[str, Accelerator]:
        """Accelerator datasheets (TDP for power rules); may be empty."""
        ...


class Filter(Protocol):
    """One feasibility rule. Must be pure and answer the same for the same (spec shape, pool)."""

    @property
    def name(self) -> str: ...

    def filter(self, spec: JobSpec, site: Site, model: str, net: Network) -> Status:
        """Can `model` devices at `site` hold `spec`'s whole gang? Return `SCHEDULABLE` itself when yes."""
        ...

    def explain(self, spec: JobSpec, pools: Sequence[tuple[Site, str]], net: Network) -> str:
        """Why none of `pools` (those that passed the earlier filters, all rejected here) can hold the job."""
        ...


class Score(Protocol):
    """One normalised ranking term: a float in [0, 1], higher is better; formula in the docstring."""

    @property
    def name(self) -> str: ...

    def score(self, spec: JobSpec, site: Site, model: str, rates: Mapping[str, float], net: Network) -> float:
        """`rates`: the job's steps/s on `num_devices` devices of each model that passed the filters."""
        ...


@dataclass(frozen=True, slots=True)
class Profile:
    """How a policy filters and ranks pools (its allocator decides the rest).

    Site order within one model: ascending on (-sum(w x s for s, w in site_scores),
    -t for t in tie_breaks, site id), i.e. the highest weighted sum first, exact ties broken by the
    tie-break scores in order, then by site id. `model_score` is the per-model term allocators use
    (e.g. heterogeneity-aware model choice).
    """

    name: str
    filters: tuple[Filter, ...]
    site_scores: tuple[tuple[Score, float], ...]
    tie_breaks: tuple[Score, ...]
    model_score: Score


# ---- allocators ----------------------------------------------------------------------------------


class Allocator(Protocol):
    """The rule of a round-based policy: at an allocation reset, which model each job should get and
    for what time fraction (job id -> model -> fraction), plus the allocator's private state for
    its next call (e.g. an LP basis). Realised by cpnet.sched.rounds; must not mutate `inp`.
    Bundled: `fifo_base_allocate` (fifo), `fifo_perf_allocate` (gavel-fifo), `maxmin_allocator`
    (las, gavel-las). The event-driven fifo's allocator is its arrival-order loop with a pool
    chooser (cpnet.sched.policies.fifo.PoolChooser)."""

    def __call__(self, inp: AllocInput, /) -> tuple[Alloc, Any]: ...


# ---- the policy ----------------------------------------------------------------------------------


class Policy(Protocol):
    """A scheduling rule.

    `round_s` is None for event-driven policies (called whenever jobs arrive or finish) and the
    round length for round-based ones (called at every multiple of `round_s`; devices freed
    mid-round stay idle until the next round, as in Gavel).
    Contract: `decide` must not mutate its input, read the clock, or do I/O; randomness only from
    `numpy.random.default_rng(snapshot.seed)`-style generators derived from the snapshot.
    """

    # Read-only members, so that frozen dataclasses and properties satisfy the protocol.
    @property
    def name(self) -> str: ...

    @property
    def round_s(self) -> float | None: ...

    @property
    def only_places_waiting_jobs(self) -> bool:
        """True when decide() returns an empty Decision and an unchanged policy_state whenever no
        job waits (non-preemptive, event-driven rules such as fifo); drivers may skip such calls."""
        ...

    def decide(self, snapshot: Snapshot) -> Decision: ...


# Optional members of a policy (read with getattr, so a policy without them still satisfies Policy):
#   rescan(state) -> state      what to pass back after a driver changed what the policy may have cached
#                               per job (a job's allowed sites, an arrival out of order); absent: None,
#                               a full rescan. Round policies keep their accounting: a reset loses history.
#   durable_state(state) -> value | None, restore_state(value) -> state
#                               the part of the state that must survive a restart of the control plane
#                               (Gavel's per-job round accounting), as a picklable value the control
#                               plane stores; absent: nothing survives, the state being a cache the
#                               next call rebuilds.


def rescanned_state(policy: Policy, state: Any) -> Any:
    """The state to hand `policy` after a driver-side change that invalidates per-job caches."""
    rescan = getattr(policy, "rescan", None)
    return rescan(state) if rescan is not None and state is not None else None


def durable_state(policy: Policy, state: Any) -> Any:
    """What of `state` the control plane stores to survive a restart (None: nothing)."""
    keep = getattr(policy, "durable_state", None)
    return keep(state) if keep is not None and state is not None else None


def restored_state(policy: Policy, value: Any) -> Any:
    """The value `durable_state` gave, handed back to the same policy after a restart."""
    restore = getattr(policy, "restore_state", None)
    return restore(value) if restore is not None else None
