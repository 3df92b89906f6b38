"""Holding deferrable jobs for greener or cheaper hours, after Wiesner et al., "Let's Wait Awhile"
(Middleware'21), with a capacity check the paper does not need (its cloud never runs out).

Rule. A waiting job that has never run and carries `deadline_s` may be held. Its run time is
estimated as d = remaining steps / its rate on its fastest usable model; it must start by
latest = deadline_s - d_slow x (1 + safety) - margin_s, where d_slow is the run time on its slowest
usable model (the allocator may give it any of them). Candidate starts are the times before `latest` at
which a site's signal changes (the first `max_candidates`, 192: two days of half-hourly data). A
start's cost is the lowest time-average signal (carbon intensity or price, from `Snapshot.energy`,
taken as a perfect forecast) over [start, start + d) among the job's best `top_sites` sites of that
model (d rounded to 10 minutes, so that jobs of one shape and length share one cost curve per
cycle). Jobs are visited in arrival order; each takes the cheapest (start, site) that beats starting
now by more than `min_gain` (a fraction) *and still has room*: the devices of that model at that
site, less the running gangs expected to be still running then (remaining steps / rate) and the
gangs already planned by this call to run there then, must hold the job's gang. A job so planned is
held now; it is not offered to the allocator in this cycle and is asked again at the next one.
Once `latest` is reached a job is never held, and no start is planned where the network is already
booked, so deferral never piles held jobs onto one green hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from cpnet.core.energy import EnergySignals
from cpnet.core.model import Site
from cpnet.core.snapshot import Snapshot
from cpnet.sched.feasibility import NetworkIndex

Signal = Literal["carbon", "price"]
DURATION_STEP_S = 600.0  # run-time estimates are rounded to 10 minutes, so jobs share cost curves


@dataclass(frozen=True, slots=True)
class DeferralGate:
    signal: Signal = "carbon"
    safety: float = 0.1  # fraction of the run-time estimate kept as slack
    margin_s: float = 3600.0  # extra slack before the deadline (queueing, rounds, data transfer)
    min_gain: float = 0.02  # hold only for at least 2 % less carbon (or cost)
    top_sites: int = 3
    max_candidates: int = 192

    def held(self, snapshot: Snapshot, index: NetworkIndex) -> frozenset[str]:
        """Ids of the waiting jobs to hold in this cycle."""
        energy = snapshot.energy
        if energy is None:
            return frozenset()
        now = snapshot.now_s
        by_id = {s.id: s for s in snapshot.sites}
        starts: list[float] | None = None  # candidate later starts, shared by every job of this call
        curves: dict[tuple[tuple[str, ...], float], tuple[float, list[tuple[float, float, str]]]] = {}
        booked: dict[tuple[str, str], list[tuple[float, float, int]]] = {}  # pool -> planned (start, end, n)
        out: list[str] = []
        for jv in snapshot.jobs:
            spec = jv.spec
            if jv.placement is not None or spec.deadline_s is None or jv.attained_device_s > 0:
                continue
            jp = index.pools_for(spec)
            if jp.reason is not None or not jp.rate:
                continue
            model = max(jp.rate, key=lambda m: (jp.rate[m], m))
            rate = jp.rate[model]
            slowest = min((r for r in jp.rate.values() if r > 0), default=0.0)
            if rate <= 0 or slowest <= 0:
                continue
            left = max(0.0, spec.total_steps - jv.steps_done)
            d = left / rate
            # the allocator may give the job any of its models, or a time share: the start-by time
            # assumes the slowest usable model, so that holding never costs the deadline
            latest = spec.deadline_s - (left / slowest) * (1.0 + self.safety) - self.margin_s
            if latest <= now:
                continue
            if starts is None:
                starts = self._starts(energy, now)
            sites = tuple(dict.fromkeys(p[0] for p in jp.by_model[model]))[: self.top_sites]
            dkey = max(DURATION_STEP_S, round(d / DURATION_STEP_S) * DURATION_STEP_S)
            curve = curves.get((sites, dkey))
            if curve is None:
                curve = curves[(sites, dkey)] = self._curve(energy, [by_id[s] for s in sites if s in by_id], now, dkey, starts)
            here, options = curve
            n = spec.num_devices
            for cost, t, site in options:  # cheapest (start, site) first
                if cost >= here * (1.0 - self.min_gain):
                    break
                if t > latest:
                    continue
                key = (site, model)
                plan = booked.get(key)
                if plan is None:
                    plan = booked[key] = self._running(snapshot, site, model, now)
                if index.sites_inventory(key) - sum(m for a, b, m in plan if a <= t < b) >= n:
                    plan.append((t, t + d, n))
                    out.append(spec.id)
                    break
        return frozenset(out)

    @staticmethod
    def _running(snapshot: Snapshot, site: str, model: str, now: float) -> list[tuple[float, float, int]]:
        """(now, expected end, devices) of the gangs running on `model` at `site`."""
        out = []
        for jv in snapshot.jobs:
            p = jv.placement
            if p is not None and p.accelerator == model and p.site == site:
                left = max(0.0, jv.spec.total_steps - jv.steps_at(now))
                end = now + left / jv.steps_per_s if jv.steps_per_s > 0 else math.inf
                out.append((now, end, p.num_devices))
        return out

    def _starts(self, energy: EnergySignals, now: float) -> list[float]:
        out: list[float] = []
        t = now
        for _ in range(self.max_candidates):
            t = energy.next_change_s(t)
            if math.isinf(t):
                break
            out.append(t)
        return out

    def _curve(self, energy: EnergySignals, sites: list[Site], now: float, d: float, starts: list[float]) -> tuple[float, list[tuple[float, float, str]]]:
        """Cost of starting now (the best site), and every (cost, start, site) option, cheapest first."""
        if not sites:
            return math.inf, []
        mean = energy.mean_carbon if self.signal == "carbon" else energy.mean_price
        here = min(mean(s, now, now + d) for s in sites)
        options = sorted((mean(s, t, t + d), t, s.id) for t in starts for s in sites)
        return here, options
