"""`convergent`, `carbon-aware`, `cost-aware` and `carbon-greedy`: where chip, network and power are
weighed together.

Rule: Gavel's heterogeneity-aware max-min allocation (the `gavel-las` allocator: which model each
job gets, for what share of time), realised in Gavel's rounds, with each job's site among the pools
of its model chosen by a weighted sum of scores (cpnet.sched.profile.weighted_profile):
data-transfer time from the job's data, latency, energy price *now*, carbon intensity *now* and
power-cap headroom; no placement ever takes a site over its power cap (cpnet.sched.power).
`carbon-aware` and `cost-aware` are weight presets that also hold deferrable jobs (those with a
deadline) for greener or cheaper hours (cpnet.sched.deferral, after "Let's Wait Awhile").
`carbon-greedy` is a bound for the benchmarks: the carbon score alone, no deferral.

Unlike the faithful `gavel-las`, these use Gavel's mechanism with both named improvements on by
default (`work_conserving`: spare devices go to jobs without allocation; `second_phase`: the LP's
second phase), because they are cpnet's own policies; every parameter may be overridden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cpnet.core.snapshot import Decision, Snapshot
from cpnet.sched.deferral import DeferralGate
from cpnet.sched.feasibility import index_for
from cpnet.sched.maxmin_alloc import maxmin_allocator
from cpnet.sched.profile import weighted_profile
from cpnet.sched.registry import register
from cpnet.sched.rounds import RoundPolicy, RoundState, bool_param, round_params


@dataclass(frozen=True)
class DeferringPolicy:
    """A round policy that first holds deferrable jobs by `gate` (they are not offered this cycle)."""

    inner: RoundPolicy
    gate: DeferralGate

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def round_s(self) -> float:
        return self.inner.round_s

    @property
    def only_places_waiting_jobs(self) -> bool:
        return False

    def decide(self, snapshot: Snapshot) -> Decision:
        st = snapshot.policy_state
        index = index_for(snapshot, st.index if isinstance(st, RoundState) else None, self.inner.profile)
        if isinstance(st, RoundState) and st.index is not index:  # hand the rebuilt index on, not build it twice
            snapshot = replace(snapshot, policy_state=replace(st, index=index))
        held = self.gate.held(snapshot, index)
        if held:
            snapshot = replace(snapshot, jobs=tuple(jv for jv in snapshot.jobs if jv.id not in held))
        return self.inner.decide(snapshot)

    def rescan(self, state: Any) -> Any:
        return self.inner.rescan(state)

    def durable_state(self, state: Any) -> Any:
        return self.inner.durable_state(state)

    def restore_state(self, value: Any) -> Any:
        return self.inner.restore_state(value)


_COMMON: dict[str, Any] = {"round_s": 360.0, "reset_interval_s": 1920.0, "work_conserving": True, "second_phase": True, "tenant_share": False}
_WEIGHTS = ("w_transfer", "w_latency", "w_cost", "w_carbon", "w_power")


def _build(name: str, params: Mapping[str, Any], defer: str | None) -> RoundPolicy | DeferringPolicy:
    profile = weighted_profile(
        name,
        transfer=float(params["w_transfer"]),
        latency=float(params["w_latency"]),
        cost=float(params["w_cost"]),
        carbon=float(params["w_carbon"]),
        power=float(params["w_power"]),
    )
    allocate = maxmin_allocator(True, bool_param(params["second_phase"], "second_phase"), bool_param(params["tenant_share"], "tenant_share"))
    inner = RoundPolicy(round_params(params, fastest_first=True), allocate, name, profile=profile)
    if defer is None or not bool_param(params.get("defer", True), "defer"):
        return inner
    return DeferringPolicy(inner, DeferralGate(signal="carbon" if defer == "carbon" else "price"))


def _weights(transfer: float, latency: float, cost: float, carbon: float, power: float) -> dict[str, float]:
    return dict(zip(_WEIGHTS, (transfer, latency, cost, carbon, power), strict=True))


@register("convergent", {**_COMMON, **_weights(1.0, 0.0, 1.0, 1.0, 0.25)})
def make_convergent(params: Mapping[str, Any]) -> RoundPolicy | DeferringPolicy:
    """convergent = gavel-las allocator + weighted_profile(transfer 1, cost 1, carbon 1, power 0.25)."""
    return _build("convergent", params, None)


@register("carbon-aware", {**_COMMON, **_weights(1.0, 0.0, 0.5, 3.0, 0.25), "defer": True})
def make_carbon_aware(params: Mapping[str, Any]) -> RoundPolicy | DeferringPolicy:
    """carbon-aware = convergent with carbon weighted 3, cost 0.5, and deferral on carbon intensity."""
    return _build("carbon-aware", params, "carbon")


@register("cost-aware", {**_COMMON, **_weights(1.0, 0.0, 3.0, 0.5, 0.25), "defer": True})
def make_cost_aware(params: Mapping[str, Any]) -> RoundPolicy | DeferringPolicy:
    """cost-aware = convergent with cost weighted 3, carbon 0.5, and deferral on price."""
    return _build("cost-aware", params, "price")


@register("carbon-greedy", {**_COMMON, **_weights(0.0, 0.0, 0.0, 1.0, 0.0)})
def make_carbon_greedy(params: Mapping[str, Any]) -> RoundPolicy | DeferringPolicy:
    """carbon-greedy = gavel-las allocator + the carbon score alone (a bound, not a product policy)."""
    return _build("carbon-greedy", params, None)
