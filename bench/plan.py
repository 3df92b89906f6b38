"""Capacity plan on the default scenario (not a test): `cpnet plan`'s search, timed, and its answer checked.

Demand: one week of Gavel's generator at 20 jobs/h (the CLI's default history) forecast 90 days
ahead; the plan is made for the forecast's upper 80 % bound (`--quantile 80`), which widens with
the horizon, so the demand planned for grows over the 90 days (about 820 device-hours/h in the
first month to 1,170 in the third, against a 560 mean). Target: p90 queueing < 1 h, policy fifo.

Prints one JSON object: the answer, the plan's wall time, replays, the unplanned and planned
networks' p90 queueing (the search's own replays), the planned network replayed again on a demand
sample drawn with another seed, and `met` against the targets (plan < 5 minutes on 2 cores; the
planned network meets the target, the unplanned one misses it).

    .venv/bin/python bench/plan.py
    .venv/bin/python bench/plan.py --horizon 30d --quantile mean
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from cpnet.cli.plan_cmd import DEFAULT_HISTORY
from cpnet.forecast import parse_horizon
from cpnet.plan.run import PlanRequest, make_plan
from cpnet.plan.search import evaluate, with_purchase
from cpnet.plan.target import Target
from cpnet.scenario import DEFAULT_SCENARIO
from cpnet.sim.parallel import default_workers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizon", default="90d")
    ap.add_argument("--quantile", default="80")
    ap.add_argument("--target", default="p90 queueing < 1h")
    ap.add_argument("--history", default=DEFAULT_HISTORY)
    ap.add_argument("--workers", type=int, default=default_workers(64))
    args = ap.parse_args()
    target = Target.parse(args.target)
    req = PlanRequest(
        DEFAULT_SCENARIO, args.history, parse_horizon(args.horizon), target, 1798761600.0, quantile=args.quantile, workers=args.workers
    )  # plan start 2027-01-01
    t0 = time.perf_counter()
    plan = make_plan(req, on_run=lambda label: print(f"  replayed {label}", file=sys.stderr), on_stage=lambda m: print(m, file=sys.stderr))
    plan_s = time.perf_counter() - t0
    r = plan.result
    check: dict[str, object] | None = None
    if r.chosen is not None and r.chosen.candidate is not None:
        # out of sample: the planned network on demand drawn with another seed
        from cpnet.catalog import load_catalog, load_throughputs
        from cpnet.plan.demand import future_demand
        from cpnet.scenario import load_scenario
        from cpnet.sim.driver import run_simulation, tenants_of
        from cpnet.sim.traces import assign_tenants, open_trace

        catalog = load_catalog()
        throughput = load_throughputs(catalog)
        net = load_scenario(DEFAULT_SCENARIO)
        history = list(assign_tenants(open_trace(args.history, throughput=throughput, seed=0), tenants_of(net), 0))
        other = future_demand(history, req.horizon_h, seed=1, quantile=args.quantile)
        until = req.horizon_h * 3600.0
        planned = with_purchase(net, r.chosen.candidate, r.chosen.devices)
        res = run_simulation(scenario=planned, jobs=other.jobs, policy="fifo", throughput=throughput, catalog=catalog, until_s=until)
        ev = evaluate(res, target, until, r.chosen.candidate, r.chosen.devices)
        check = {"seed": 1, "jobs": ev.jobs, "value_s": ev.value_s, "met": ev.met}
    out = {
        "answer": plan.answer(),
        "scenario": DEFAULT_SCENARIO,
        "horizon_h": req.horizon_h,
        "target": target.text,
        "quantile": args.quantile,
        "forecast_model": plan.demand.model,
        "demand_jobs": len(plan.demand.jobs),
        "demand_device_h_per_h_by_month": [round(float(plan.demand.demand_dh[i : i + 720].mean()), 1) for i in range(0, req.horizon_h, 720)],
        "plan_s": round(plan_s, 1),
        "replays": r.runs,
        "workers": args.workers,
        "unplanned_value_s": r.baseline.value_s,
        "planned_value_s": None if r.chosen is None else r.chosen.value_s,
        "planned_other_seed": check,
        "cores": os.cpu_count(),
        "met": {
            "plan_under_5_min": plan_s < 300,
            "unplanned_misses": not r.baseline.met,
            "planned_meets": r.chosen is not None and r.chosen.met,
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
