"""`schedule()`: the single entry point that the simulator and the control plane both call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    return policy.decide(snapshot)
