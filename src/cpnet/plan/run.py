"""A capacity plan end to end: load the network and the history, sample forecast demand, search, report."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cpnet.core.errors import CpnetError
from cpnet.plan.demand import FutureDemand, future_demand
from cpnet.plan.search import DAY_S, Evaluation, PlanResult, candidates, search
from cpnet.plan.sweep import Sweep
from cpnet.plan.target import Target, certain_misses
from cpnet.sched.runner import SchedulerConfig


@dataclass(frozen=True, slots=True)
class PlanRequest:
    scenario: str
    history: str
    horizon_h: int
    target: Target
    start_s: float  # Unix time of plan hour 0 (dates in the answer count from it)
    policy: str = "fifo"
    quantile: str = "mean"
    growth_per_month: float = 0.0
    forecast_model: str = "auto"
    models: int = 3
    block: int = 8
    max_add: int = 1024
    max_runs: int = 60
    seed: int = 0
    workers: int = 1
    ray_address: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    request: PlanRequest
    result: PlanResult
    demand: FutureDemand

    def date(self, plan_s: float) -> str:
        return datetime.fromtimestamp(self.request.start_s + plan_s, UTC).strftime("%Y-%m-%d")

    def answer(self) -> str:
        """One sentence: what to buy, by when, and what it does to the target."""
        r, t = self.result, self.result.target
        before = _hours(r.baseline.value_s)
        if r.baseline.met:
            return f"nothing needed: {t.stat} {t.metric} {before} meets '{t.text}' over the {self.request.horizon_h // 24}-day horizon"
        due = "now" if r.due_s is None or r.due_s <= 0 else f"by {self.date(r.due_s)}"
        if r.chosen is None:
            why = "the replay budget ran out" if r.exhausted else f"up to {self.request.max_add} more devices of each candidate"
            return f"target '{t.text}' not met ({t.stat} {t.metric} {before}) with any single purchase tried ({why}); needed {due}"
        c = r.chosen.candidate
        assert c is not None
        return (
            f"add {r.chosen.devices} x {c.model} at {c.site} {due} (USD {r.chosen.cost_usd:,.0f}): "
            f"{t.stat} {t.metric} {before} -> {_hours(r.chosen.value_s)} (target '{t.text}')"
        )

    def to_json(self) -> dict[str, Any]:
        req, r = self.request, self.result

        def ev(e: Evaluation | None) -> dict[str, Any] | None:
            if e is None:
                return None
            c = e.candidate
            return {
                "model": None if c is None else c.model,
                "site": None if c is None else c.site,
                "devices": e.devices,
                "cost_usd": e.cost_usd,
                "value_s": e.value_s,
                "met": e.met,
                "jobs": e.jobs,
                "infeasible": e.infeasible,
                "daily_s": list(e.daily_s),
            }

        return {
            "answer": self.answer(),
            "scenario": req.scenario,
            "history": req.history,
            "horizon_h": req.horizon_h,
            "start": self.date(0),
            "target": req.target.text,
            "policy": req.policy,
            "demand": {
                "quantile": req.quantile,
                "growth_per_month": req.growth_per_month,
                "forecast_model": self.demand.model,
                "history_hours": len(self.demand.history_dh),
                "history_mean_device_h_per_h": float(self.demand.history_dh.mean()),
                "forecast_mean_device_h_per_h": float(self.demand.demand_dh.mean()),
                "jobs": len(self.demand.jobs),
                "mean_job_device_h": self.demand.mean_job_dh,
            },
            "due": None if r.due_s is None else self.date(r.due_s),
            "baseline": ev(r.baseline),
            "chosen": ev(r.chosen),
            "candidates": [
                {"model": c.model, "site": c.site, "usd_per_device": c.usd_per_device, "price_source": c.price_source, "cu_per_device": c.cu_per_device}
                for c in r.candidates
            ],
            "tried": [ev(e) for e in r.tried],
            "runs": r.runs,
            "exhausted": r.exhausted,
        }


def _hours(v: float | None) -> str:
    return "n/a" if v is None else f"{v / 3600:.2f} h"


def make_plan(req: PlanRequest, on_run: Callable[[str], None] | None = None, on_stage: Callable[[str], None] | None = None) -> Plan:
    from cpnet.catalog import load_catalog, load_throughputs
    from cpnet.scenario import load_scenario
    from cpnet.sim.driver import tenants_of
    from cpnet.sim.traces import assign_tenants, open_trace

    say = on_stage or (lambda _m: None)
    if req.horizon_h < 24:
        raise CpnetError(f"horizon {req.horizon_h} h: a plan looks at least a day ahead")
    catalog = load_catalog()
    throughput = load_throughputs(catalog)
    # Replays use each site's static price and carbon: time-varying series change which site a job
    # prefers, not how much capacity there is, and would rebuild the scheduler's index every hour.
    net = replace(load_scenario(req.scenario), energy=None)
    history = list(open_trace(req.history, throughput=throughput, seed=req.seed))
    tenants = tenants_of(net)
    if tenants and any(j.tenant not in tenants for j in history):
        history = list(assign_tenants(history, tenants, req.seed))
    say(f"forecasting {req.horizon_h} h of demand from {len(history)} history jobs")
    demand = future_demand(history, req.horizon_h, seed=req.seed, quantile=req.quantile, growth_per_month=req.growth_per_month, model=req.forecast_model)
    cands = candidates(net, history, req.models)
    say(f"{len(demand.jobs)} jobs sampled ({demand.model}); candidates: " + ", ".join(f"{c.model} at {c.site}" for c in cands))
    until_s = req.horizon_h * 3600.0
    misses = certain_misses(req.target, len(demand.jobs))
    stop = None if misses is None else (req.target.metric, req.target.bound_s, misses)
    sweep = Sweep(net, demand.jobs, throughput, catalog, SchedulerConfig(req.policy), until_s, req.workers, req.ray_address, req.seed, on_run, stop)
    result = search(cands, req.target, until_s, sweep, block=req.block, max_add=req.max_add, max_runs=req.max_runs)
    return Plan(req, result, demand)


def write_plan(plan: Plan, out: Path) -> list[Path]:
    """plan.json and plan.png (each day's statistic before and after, and the target) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    doc = plan.to_json()
    (out / "plan.json").write_text(json.dumps(doc, indent=2) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r, t = plan.result, plan.result.target
    fig, ax = plt.subplots(figsize=(9, 3.6))
    days = list(range(len(r.baseline.daily_s)))

    def series(e: Evaluation) -> list[float]:
        return [math.nan if v is None else v / 3600 for v in e.daily_s]

    stop = r.baseline.stopped_s
    as_is = "network as it is" + ("" if stop is None else f" (replay stopped on day {stop / DAY_S:.0f}: the target was certainly missed)")
    ax.plot(days, series(r.baseline), label=as_is, color="#c0392b")
    if r.chosen is not None and r.chosen.candidate is not None:
        ax.plot(days, series(r.chosen), label=f"with {r.chosen.devices} x {r.chosen.candidate.model} at {r.chosen.candidate.site}", color="#2e86c1")
    ax.axhline(t.bound_s / 3600, color="#555", linestyle="--", linewidth=1, label=f"target: {t.text}")
    if r.due_s is not None:
        ax.axvline(r.due_s / DAY_S, color="#999", linestyle=":", linewidth=1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"day of the plan (from {plan.date(0)})")
    ax.set_ylabel(f"{t.stat} {t.metric} of each day's arrivals (h)")
    ax.set_title(plan.answer(), fontsize=8, wrap=True)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "plan.png", dpi=110)
    plt.close(fig)
    return [out / "plan.json", out / "plan.png"]
