"""Holding deferrable jobs for greener or cheaper hours, after Wiesner et al., "Let's Wait Awhile"
(Middleware'21).

Rule. A waiting job that has never run and carries `deadline_s` may be held. Its run time is
estimated as d = remaining steps / its rate on its fastest usable model; it must start by
latest = deadline_s - d x (1 + safety) - margin_s. Candidate starts are now and every time before
`latest` at which a site's signal changes (at most `max_candidates`, in time order); a start's cost
is the lowest time-average signal (carbon intensity or price, from `Snapshot.energy`, taken as a
perfect forecast) over [start, start + d) among the job's best `top_sites` sites of that model. The
job is held now when the cheapest start is later than now and beats starting now by more than
`min_gain` (a fraction). A held job is simply not offered to the allocator in this cycle; it is
asked again at the next cycle, and once `latest` is reached it is never held, so a job whose
start-now placement would meet its deadline is only ever delayed to a start that still leaves the
safety margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cpnet.core.energy import EnergySignals
from cpnet.core.model import Site
from cpnet.core.snapshot import Snapshot
from cpnet.sched.feasibility import NetworkIndex

Signal = Literal["carbon", "price"]


@dataclass(frozen=True, slots=True)
class DeferralGate:
    signal: Signal = "carbon"
    safety: float = 0.1  # fraction of the run-time estimate kept as slack
    margin_s: float = 3600.0  # extra slack before the deadline (queueing, rounds, data transfer)
    min_gain: float = 0.02  # hold only for at least 2 % less carbon (or cost)
    top_sites: int = 3
    max_candidates: int = 96

    def held(self, snapshot: Snapshot, index: NetworkIndex) -> frozenset[str]:
        """Ids of the waiting jobs to hold in this cycle."""
        energy = snapshot.energy
        if energy is None:
            return frozenset()
        now = snapshot.now_s
        by_id = {s.id: s for s in snapshot.sites}
        memo: dict[tuple[tuple[str, ...], float, float], bool] = {}
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
            if rate <= 0:
                continue
            d = max(0.0, spec.total_steps - jv.steps_done) / rate
            latest = spec.deadline_s - d * (1.0 + self.safety) - self.margin_s
            if latest <= now:
                continue
            sites = tuple(dict.fromkeys(p[0] for p in jp.by_model[model]))[: self.top_sites]
            key = (sites, round(d, 0), round(latest, 0))
            hold = memo.get(key)
            if hold is None:
                hold = memo[key] = self._later_is_better(energy, [by_id[s] for s in sites if s in by_id], now, d, latest)
            if hold:
                out.append(spec.id)
        return frozenset(out)

    def _later_is_better(self, energy: EnergySignals, sites: list[Site], now: float, d: float, latest: float) -> bool:
        if not sites:
            return False
        mean = energy.mean_carbon if self.signal == "carbon" else energy.mean_price
        d = max(d, 1.0)

        def cost(t: float) -> float:
            return min(mean(s, t, t + d) for s in sites)

        here = cost(now)
        best = here
        t = now
        for _ in range(self.max_candidates):
            t = energy.next_change_s(t)
            if t > latest:
                break
            c = cost(t)
            if c < best:
                best = c
        return best < here * (1.0 - self.min_gain)
