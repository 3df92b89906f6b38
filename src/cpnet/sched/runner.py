"""`schedule()`: the single entry point that the simulator and the control plane both call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cpnet.core.snapshot import Decision, Snapshot
from cpnet.sched.framework import Policy
from cpnet.sched.registry import make_policy


@dataclass(frozen=True)
class SchedulerConfig:
    """Which policy runs, with its parameters (e.g. {"round_s": 360})."""

    policy: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Policy:
        return make_policy(self.policy, self.params)


def schedule(snapshot: Snapshot, config: SchedulerConfig | Policy) -> Decision:
    """Pure: the same snapshot and config always give the same decision.

    Drivers that call this often may pass a built Policy (from `config.build()`) to skip lookup.
    """
    policy = config.build() if isinstance(config, SchedulerConfig) else config
    if not snapshot.holds:
        return policy.decide(snapshot)
    return _with_holds(snapshot, policy)


def _with_holds(snapshot: Snapshot, policy: Policy) -> Decision:
    """A held tenant's waiting jobs are not offered to the policy; they wait with the hold's reason (a budget).
    When holds change, the driver passes a rescanned policy state (framework.rescanned_state): released
    jobs come back to the queue out of arrival order, which incremental policies (fifo) do not look for."""
    held = {jv.id: snapshot.holds[jv.spec.tenant] for jv in snapshot.jobs if jv.placement is None and jv.spec.tenant in snapshot.holds}
    if not held:
        return policy.decide(snapshot)
    decision = policy.decide(replace(snapshot, jobs=tuple(jv for jv in snapshot.jobs if jv.id not in held)))
    return replace(decision, waiting={**decision.waiting, **held})
