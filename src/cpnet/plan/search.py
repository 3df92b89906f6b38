"""The cheapest purchase that meets a target on forecast demand, found by replaying it through the simulator.

Rule:
1. Replay the sampled future jobs on the network as it is (the baseline). If it meets the target,
   nothing is needed. Otherwise the purchase is due by the start of the first UTC day whose
   arriving jobs miss the target (their queueing or JCT censored at the horizon's end).
2. Candidate purchases are one accelerator model at one site: the `models` models with the most
   compute units per purchase dollar for the history's job mix (CU rate per job type weighted by
   the jobs' device-hours, over cpnet.plan.prices), each at the site already holding the most of it
   (its cluster is expanded; ties by site id).
3. For each candidate, in lockstep: add block, 2 x block, 4 x block, ... devices until the target
   is met, or a doubling makes the statistic worse (more of that model hurts: a heterogeneity-
   agnostic policy such as fifo sends jobs to a slow model as readily as to a fast one), or
   `max_add` is passed; then bisect between the last miss and the first meet, in whole blocks. Every
   step's replays of all candidates run as one batch (serially, in processes or on Ray).
   Branch and bound: a candidate is dropped once the cheapest purchase it could still be (one block
   more than its largest miss) costs at least the cheapest one known to meet.
4. The answer is the cheapest (devices x price) purchase that met the target; within `max_runs`
   replays. The search assumes more devices never make the target worse once they help (so the
   bisection's answer is the fewest blocks of that model); it does not mix models in one purchase.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cpnet.catalog.compute_units import cu_rate
from cpnet.core.errors import CpnetError
from cpnet.core.model import JobSpec, Tier
from cpnet.plan.prices import device_price
from cpnet.plan.target import Target
from cpnet.sim.metrics import censored_times_s
from cpnet.sim.records import JobOutcome, SimulationResult

DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model at one site, at `usd_per_device`; `cu_per_device` is its CU rate for the job mix."""

    model: str
    site: str
    usd_per_device: float
    price_source: str
    cu_per_device: float


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One replay: `devices` more of the candidate (None: the network as it is)."""

    candidate: Candidate | None
    devices: int
    value_s: float | None  # the target's statistic
    met: bool
    jobs: int
    infeasible: int
    daily_s: tuple[float | None, ...] = ()  # the statistic over each day's arriving jobs (None: no jobs that day)
    stopped_s: float | None = None  # the replay ended here, once it certainly missed (its numbers count up to then)

    def standing(self) -> tuple[float, float]:
        """Lower is better: a replay stopped early is worse than one that ran out, the earlier the worse."""
        if self.stopped_s is not None:
            return (-self.stopped_s, math.inf)
        return (-math.inf, math.inf if self.value_s is None else self.value_s)

    @property
    def cost_usd(self) -> float:
        return 0.0 if self.candidate is None else self.devices * self.candidate.usd_per_device


@dataclass(frozen=True, slots=True)
class PlanResult:
    target: Target
    baseline: Evaluation
    due_s: float | None  # plan time when the baseline first misses (start of that day); None: it never does
    chosen: Evaluation | None  # None: nothing needed, or nothing met the target
    tried: tuple[Evaluation, ...]
    candidates: tuple[Candidate, ...]
    runs: int
    exhausted: bool  # the replay budget ran out before every candidate was settled


# Replays a batch: (candidate or None, extra devices) -> its result; the sweep's engine.
Replayer = Callable[[Sequence[tuple[Candidate | None, int]]], list[SimulationResult]]


def with_purchase(network: Any, candidate: Candidate | None, devices: int) -> Any:
    """The network with `devices` more of the candidate's model at its site."""
    if candidate is None or devices == 0:
        return network
    sites = []
    for s in network.sites:
        if s.id == candidate.site:
            inv = dict(s.inventory)
            inv[candidate.model] = inv.get(candidate.model, 0) + devices
            s = replace(s, inventory=inv)
        sites.append(s)
    return replace(network, sites=tuple(sites))


def candidates(network: Any, history: Sequence[JobSpec], models: int) -> list[Candidate]:
    """Step 2 of the module's rule: the best `models` models by CU per dollar, each at its largest site."""
    weight: dict[str, float] = {}
    for j in history:  # the job mix: device-hours by job type (a job without a duration counts its devices)
        text = j.extra.get("duration_s")
        dh = float(text) * j.num_devices / 3600.0 if text else float(j.num_devices)
        weight[j.job_type] = weight.get(j.job_type, 0.0) + dh
    total = sum(weight.values()) or 1.0
    holders: dict[str, tuple[int, str]] = {}  # model -> (-devices, site) of its largest cloud or edge site
    for s in network.sites:
        if s.tier == Tier.DEVICE:
            continue  # devices on vehicles and robots are not bought for the pool
        for m, n in s.inventory.items():
            if n > 0 and (m not in holders or (-n, s.id) < holders[m]):
                holders[m] = (-n, s.id)
    out = []
    for model, (_, site) in holders.items():
        price = device_price(model)
        if price.usd is None or price.usd <= 0:
            continue
        cu = sum(w * (cu_rate(model, jt) or 0.0) for jt, w in weight.items()) / total
        if cu > 0:
            out.append(Candidate(model, site, price.usd, price.source, cu))
    out.sort(key=lambda c: (-c.cu_per_device / c.usd_per_device, c.model))
    if not out:
        raise CpnetError("no accelerator model of this network can run the history's jobs at a known price; nothing to plan with")
    return out[:models]


def evaluate(result: SimulationResult, target: Target, until_s: float, candidate: Candidate | None, devices: int) -> Evaluation:
    stopped = result.end_s < until_s and any(r.outcome is JobOutcome.UNFINISHED for r in result.records)
    cut_s = result.end_s if stopped else until_s  # stopped early (cpnet.sim.early_stop): count up to the stop
    times = censored_times_s(result, target.metric, cut_s)
    value = target.value_s(times)
    infeasible = sum(1 for r in result.records if r.outcome is JobOutcome.INFEASIBLE)
    by_day: dict[int, list[Any]] = {}
    for r in result.records:
        by_day.setdefault(int(r.arrival_s // DAY_S), []).append(r)
    daily = tuple(
        target.value_s(censored_times_s(replace(result, records=tuple(by_day.get(d, ()))), target.metric, cut_s)) if d in by_day else None
        for d in range(math.ceil(until_s / DAY_S))
    )  # fmt: skip
    return Evaluation(candidate, devices, value, target.met(value) and not stopped, len(times), infeasible, daily, result.end_s if stopped else None)


def first_missed_day_s(ev: Evaluation, target: Target) -> float | None:
    """Start of the first day (of plan time) whose arriving jobs miss the target; None when none does."""
    for d, v in enumerate(ev.daily_s):
        if v is not None and not target.met(v):
            return d * DAY_S
    return None


def search(
    cands: Sequence[Candidate],
    target: Target,
    until_s: float,
    replay: Replayer,
    *,
    block: int = 8,
    max_add: int = 1024,
    max_runs: int = 60,
) -> PlanResult:
    """The module's rule over `cands`, replaying batches with `replay`."""
    if block < 1 or max_add < block:
        raise CpnetError(f"block ({block}) must be >= 1 and max-add ({max_add}) >= block")
    (base_result,) = replay([(None, 0)])
    baseline = evaluate(base_result, target, until_s, None, 0)
    tried: list[Evaluation] = []
    runs = 1
    if baseline.met:
        return PlanResult(target, baseline, None, None, (), tuple(cands), runs, False)
    due = first_missed_day_s(baseline, target)
    lo = {c: 0 for c in cands}  # the most blocks known to miss
    hi: dict[Candidate, int] = {}  # the fewest blocks known to meet
    growing = list(cands)
    exhausted = False

    def batch(items: list[tuple[Candidate, int]]) -> list[Evaluation]:
        nonlocal runs
        results = replay([(c, n * block) for c, n in items])
        runs += len(items)
        evs = [evaluate(r, target, until_s, c, n * block) for (c, n), r in zip(items, results, strict=True)]
        tried.extend(evs)
        return evs

    last = {c: baseline.standing() for c in cands}

    def best_cost() -> float:
        return min((hi[c] * block * c.usd_per_device for c in hi), default=math.inf)

    def worth(c: Candidate) -> bool:  # bound: it needs more than lo[c] blocks, which must cost less than the best so far
        return (lo[c] + 1) * block * c.usd_per_device < best_cost()

    step = 1
    while growing:  # 1, 2, 4, ... blocks until each candidate meets, stops helping, or passes max_add
        if runs + len(growing) > max_runs:
            exhausted = True
            break
        evs = batch([(c, step) for c in growing])
        nxt = []
        for c, ev in zip(growing, evs, strict=True):
            if ev.met:
                hi[c] = step
                continue
            lo[c] = step
            if ev.standing() <= last[c] and 2 * step * block <= max_add:  # more of it did not hurt: go on doubling
                nxt.append(c)
            last[c] = ev.standing()
        growing, step = [c for c in nxt if worth(c)], step * 2
    while True:  # bisect each met candidate between its last miss and first meet
        open_ = [c for c in hi if hi[c] - lo[c] > 1 and worth(c)]
        if not open_:
            break
        if runs + len(open_) > max_runs:
            exhausted = True
            break
        mids = [(c, (lo[c] + hi[c]) // 2) for c in open_]
        for (c, mid), ev in zip(mids, batch(mids), strict=True):
            if ev.met:
                hi[c] = mid
            else:
                lo[c] = mid
    met = [ev for ev in tried if ev.met and ev.candidate is not None and hi.get(ev.candidate) == ev.devices // block]
    chosen = min(met, key=lambda ev: (ev.cost_usd, ev.devices, ev.candidate.model if ev.candidate else "")) if met else None
    return PlanResult(target, baseline, due, chosen, tuple(tried), tuple(cands), runs, exhausted)
