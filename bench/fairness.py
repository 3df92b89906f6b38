"""Multi-tenant contention on the default scenario: each tenant's CU share against its weighted fair share.

Workload (issue 10's benchmark): four tenants with weights 1:1:2:4 on the embedded default scenario;
tenant `a` submits 10x the jobs of each other tenant; every job arrives in the first
`--arrive-h` hours, so the queue holds at least twice the network's supply through the contended
window [arrive-h, --window-h). Jobs are 1, 2, 4 or 8 devices of a job type drawn from the
throughput table, running 4-12 h on a V100, checkpointing every 30 min. The simulator runs with
`preemption_loses_work` (a preempted job keeps only what it checkpointed).

Figures (cpnet.sim.metrics.tenant_shares): per tenant its CU share of the window and its weighted
fair share; the largest relative gap |share - fair| / fair (target <= 5 %); Jain's index over
share / fair (target >= 0.95); preemptions per job (target: none above 3) and device-seconds of
work lost to preemption. Prints one JSON object: one entry per policy (`fair-share` and `fifo`
beside it as the baseline).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.core.model import JobSpec, Tenant
from cpnet.scenario import load_scenario
from cpnet.scenario.defaults import DEFAULT_SCENARIO
from cpnet.sched.runner import SchedulerConfig
from cpnet.sched.tenant_share import CuRates
from cpnet.sim.driver import run_simulation
from cpnet.sim.metrics import tenant_shares

WEIGHTS = {"a": 1.0, "b": 1.0, "c": 2.0, "d": 4.0}


def workload(throughput: object, per_tenant: int, arrive_s: float, seed: int) -> list[JobSpec]:
    rng = random.Random(seed)
    types = list(throughput.job_types())  # type: ignore[attr-defined]
    jobs = []
    for tenant in WEIGHTS:
        count = per_tenant * (10 if tenant == "a" else 1)
        for k in range(count):
            job_type = rng.choice(types)
            n = rng.choice((1, 2, 4, 8))
            rate = throughput.steps_per_s(job_type, "V100", n) or 1.0  # type: ignore[attr-defined]
            jobs.append(
                JobSpec(f"{tenant}-{k}", tenant, job_type, n, rate * rng.uniform(4 * 3600, 12 * 3600), rng.uniform(0, arrive_s), checkpoint_interval_s=1800.0)
            )
    jobs.sort(key=lambda j: (j.arrival_s, j.id))
    return jobs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-tenant", type=int, default=600, help="jobs of each tenant but `a` (which submits 10x)")
    ap.add_argument("--arrive-h", type=float, default=2.0)
    ap.add_argument("--window-h", type=float, default=24.0)
    ap.add_argument("--policies", nargs="+", default=["fair-share", "fifo"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    catalog = load_catalog()
    throughput = load_throughputs(catalog)
    net = load_scenario(DEFAULT_SCENARIO)
    net = dataclasses.replace(net, tenants={t: Tenant(t, w) for t, w in WEIGHTS.items()})
    jobs = workload(throughput, args.per_tenant, args.arrive_h * 3600, args.seed)
    devices = sum(n for s in net.sites for n in s.inventory.values())
    cu = CuRates(throughput)
    out: dict[str, object] = {"scenario": DEFAULT_SCENARIO, "devices": devices, "jobs": len(jobs), "window_h": [args.arrive_h, args.window_h]}
    for policy in args.policies:
        t0 = time.perf_counter()
        # the run stops at the window's end: what happens after it is not measured
        result = run_simulation(
            scenario=net,
            jobs=(j for j in jobs),
            policy=SchedulerConfig(policy),
            throughput=throughput,
            catalog=catalog,
            seed=args.seed,
            preemption_loses_work=True,
            until_s=args.window_h * 3600,
        )
        shares, jain = tenant_shares(result, args.arrive_h * 3600, args.window_h * 3600, cu)
        gaps = {t: abs(s.share - s.fair_share) / s.fair_share for t, s in shares.items()}
        preempted = [r.preemptions for r in result.records]
        out[policy] = {
            "wall_s": round(time.perf_counter() - t0, 2),
            "shares": {
                t: {"weight": s.weight, "cu_share": round(s.share, 4), "fair_share": round(s.fair_share, 4), "cu_h": round(s.cu_s / 3600, 1)}
                for t, s in shares.items()
            },
            "max_rel_gap": round(max(gaps.values()), 4),
            "jain_over_weights": None if jain is None else round(jain, 4),
            "max_preemptions_per_job": max(preempted, default=0),
            "preemptions": sum(preempted),
            "work_lost_device_h": round(sum(r.work_lost_device_s for r in result.records) / 3600, 1),
            "met": {
                "share_within_5pct": max(gaps.values()) <= 0.05,
                "jain_ge_0_95": jain is not None and jain >= 0.95,
                "preempted_le_3": max(preempted, default=0) <= 3,
            },
        }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
