"""Convergence: chip, network, energy and carbon weighed together, against Gavel and a carbon bound.

Part 1 (the default network): scenario `east-data-west-compute` (8 hubs, 5 edge cities, 3 device
fleets; tariffs by province; data at the tenants' eastern home sites), with a window of two real
traces: Philly (`pollux/philly.csv`) and one Microsoft ITP cluster (`microsoft_itp_2021/cluster01.csv`),
the first `--jobs` jobs of each (default 3,000), users mapped onto the scenario's tenants by the
seeded rule of cpnet.sim.traces.tenancy, a `--deferrable` fraction of jobs (default 0.3) given a
24 h slack, seeds 0-2. Policies: fifo, gavel-las, convergent, carbon-aware and carbon-greedy (the
carbon score alone: the bound). Targets (means over seeds and traces): convergent reaches >= 70 %
of carbon-greedy's carbon reduction relative to gavel-las, >= 20 % lower energy cost than
gavel-las, avg JCT no more than 10 % worse than gavel-las, zero deadline misses.

Part 2 (Europe): bench/scenarios/europe-carbon.yaml (Germany, Great Britain, France with the real
half-hourly carbon series of "Let's Wait Awhile"), every job deferrable with a 24 h slack;
carbon-aware with deferral vs the same policy with `defer=false` (started at once). Target: >= 10 %
less carbon with deferral.

Prints one JSON object {"china": {...}, "europe": {...}, "checks": {...}, "wall_s"}; progress on
stderr. Usage: python bench/convergence.py [--jobs N] [--seeds 0 1 2] [--processes 2] [--part china|europe|both]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TRACES = {"philly": SHARED / "pollux" / "philly.csv", "itp-cluster01": SHARED / "microsoft_itp_2021" / "cluster01.csv"}
EUROPE = ROOT / "bench" / "scenarios" / "europe-carbon.yaml"
CHINA_POLICIES = ("fifo", "gavel-las", "convergent", "carbon-aware", "carbon-greedy")
SLACK_S = 24 * 3600.0


def _quiet_worker() -> None:
    os.dup2(2, 1)  # HiGHS prints a banner on fd 1; keep stdout for the JSON object


def run_one(scenario: str, trace: str, policy: str, params: dict[str, Any], seed: int, jobs: int, deferrable: float) -> dict[str, Any]:
    from cpnet.catalog import load_catalog, load_throughputs
    from cpnet.scenario.loader import load_scenario
    from cpnet.sched.runner import SchedulerConfig
    from cpnet.sim.driver import run_simulation
    from cpnet.sim.metrics import compute_metrics
    from cpnet.sim.traces import open_trace
    from cpnet.sim.traces.tenancy import assign_tenants, with_slack

    catalog = load_catalog()
    throughput = load_throughputs(catalog)
    net = load_scenario(scenario)
    specs = open_trace(str(TRACES.get(trace, trace)), throughput=throughput, seed=seed, limit=jobs)
    specs = assign_tenants(specs, net.tenants, seed)
    job_list = list(with_slack(specs, SLACK_S, deferrable, seed))
    t0 = time.perf_counter()
    result = run_simulation(scenario=net, jobs=job_list, policy=SchedulerConfig(policy, params), throughput=throughput, catalog=catalog, seed=seed)
    m = compute_metrics(result)
    return {
        "scenario": Path(scenario).stem,
        "trace": trace,
        "policy": policy + ("" if not params else "[" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + "]"),
        "seed": seed,
        "jobs": len(job_list),
        "avg_jct_h": None if m.avg_jct_s is None else m.avg_jct_s / 3600,
        "carbon_kg": m.carbon_kg,
        "cost_usd": m.cost_usd,
        "energy_kwh": m.energy_kwh,
        "data_moved_gb": m.data_moved_gb,
        "deadline_misses": m.deadline_misses,
        "utilization_busy_window": m.utilization_busy_window,
        "avg_queue_h": None if m.avg_queue_s is None else m.avg_queue_s / 3600,
        "wall_s": time.perf_counter() - t0,
    }


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    xs = [r[key] for r in rows if r[key] is not None]
    return statistics.fmean(xs) if xs else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for policy in sorted({r["policy"] for r in rows}):
        mine = [r for r in rows if r["policy"] == policy]
        out[policy] = {
            k: _mean(mine, k) for k in ("avg_jct_h", "carbon_kg", "cost_usd", "energy_kwh", "data_moved_gb", "avg_queue_h", "utilization_busy_window")
        }
        out[policy]["deadline_misses"] = sum(r["deadline_misses"] for r in mine)
        out[policy]["runs"] = len(mine)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=3000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--deferrable", type=float, default=0.3, help="fraction of jobs given a 24 h slack in part 1")
    ap.add_argument("--part", choices=("china", "europe", "both"), default="both")
    ap.add_argument("--traces", nargs="+", default=list(TRACES))
    args = ap.parse_args()
    wall0 = time.perf_counter()
    tasks: list[tuple[str, tuple[Any, ...]]] = []
    if args.part in ("china", "both"):
        for trace in args.traces:
            for seed in args.seeds:
                for p in CHINA_POLICIES:
                    tasks.append(("china", ("east-data-west-compute", trace, p, {}, seed, args.jobs, args.deferrable)))
    if args.part in ("europe", "both"):
        for seed in args.seeds:
            for params in ({}, {"defer": False}):
                tasks.append(("europe", (str(EUROPE), "philly", "carbon-aware", params, seed, args.jobs, 1.0)))
    rows: dict[str, list[dict[str, Any]]] = {"china": [], "europe": []}
    with ProcessPoolExecutor(max_workers=args.processes, initializer=_quiet_worker) as pool:
        futures = {pool.submit(run_one, *t): part for part, t in tasks}
        for i, fut in enumerate(as_completed(futures), start=1):
            r = fut.result()
            rows[futures[fut]].append(r)
            print(f"[{i}/{len(tasks)}] {r['scenario']} {r['trace']} {r['policy']} seed={r['seed']}: "
                  f"jct={r['avg_jct_h']} h carbon={r['carbon_kg']:.0f} kg cost={r['cost_usd']:.0f} USD ({r['wall_s']:.0f} s)",
                  file=sys.stderr, flush=True)  # fmt: skip
    doc: dict[str, Any] = {"inputs": vars(args), "checks": {}}
    if rows["china"]:
        s = summarise(rows["china"])
        doc["china"] = {"summary": s, "rows": sorted(rows["china"], key=lambda r: (r["trace"], r["seed"], r["policy"]))}
        g, c, b = s["gavel-las"], s["convergent"], s["carbon-greedy"]
        bound = g["carbon_kg"] - b["carbon_kg"]
        doc["checks"]["convergent_share_of_carbon_greedy_reduction"] = (g["carbon_kg"] - c["carbon_kg"]) / bound if bound > 0 else None
        doc["checks"]["convergent_cost_reduction_vs_gavel_las"] = 1 - c["cost_usd"] / g["cost_usd"]
        doc["checks"]["convergent_jct_increase_vs_gavel_las"] = c["avg_jct_h"] / g["avg_jct_h"] - 1
        doc["checks"]["convergent_deadline_misses"] = c["deadline_misses"]
        share = doc["checks"]["convergent_share_of_carbon_greedy_reduction"]
        doc["checks"]["china_targets_met"] = bool(
            share is not None and share >= 0.7 and doc["checks"]["convergent_cost_reduction_vs_gavel_las"] >= 0.2
            and doc["checks"]["convergent_jct_increase_vs_gavel_las"] <= 0.1 and c["deadline_misses"] == 0
        )  # fmt: skip
    if rows["europe"]:
        s = summarise(rows["europe"])
        doc["europe"] = {"summary": s, "rows": sorted(rows["europe"], key=lambda r: (r["seed"], r["policy"]))}
        now, later = s["carbon-aware[defer=False]"], s["carbon-aware"]
        doc["checks"]["europe_carbon_reduction_by_deferral"] = 1 - later["carbon_kg"] / now["carbon_kg"]
        doc["checks"]["europe_deadline_misses"] = later["deadline_misses"]
        doc["checks"]["europe_target_met"] = doc["checks"]["europe_carbon_reduction_by_deferral"] >= 0.1 and later["deadline_misses"] == 0
    doc["wall_s"] = time.perf_counter() - wall0
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
