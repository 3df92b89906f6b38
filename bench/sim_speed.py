"""Simulator speed: replay all 82,247 jobs of Philly (`pollux/philly.csv`) with `fifo` and `gavel-las`.

Prints one JSON object: {"runs": [{"policy", "jobs", "events", "wall_s", "jobs_per_s", ...}, ...]}.
`wall_s` times `run_simulation` alone over an in-memory job list (the trace is read and typed once,
beforehand; that time is reported as `trace_load_s`); `cpu_s` is the same run's process CPU time. Targets: fifo >= 20,000 jobs/s and < 60 s;
gavel-las < 10 min.

The cluster is the bundled `philly-cluster` scenario (one site, 2,560 GPUs, every pool big enough
for Philly's 128-GPU jobs); without it, an equivalent literal site is built here.

Usage: python bench/sim_speed.py [--trace PATH] [--policy P ...] [--jobs N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cpnet.catalog import load_catalog, load_throughputs
from cpnet.core.errors import CpnetError
from cpnet.core.model import Site, Tier
from cpnet.sim.driver import run_simulation
from cpnet.sim.metrics import compute_metrics
from cpnet.sim.traces import open_trace

PHILLY = Path(__file__).resolve().parents[2] / "shared" / "data" / "pollux" / "philly.csv"


@dataclass(frozen=True)
class _Cluster:
    sites: tuple[Site, ...]
    links: tuple = ()
    tenants: tuple = ()
    name: str = "philly-cluster (literal)"


def _scenario():  # type: ignore[no-untyped-def]
    try:
        from cpnet.scenario import load_scenario

        return load_scenario("philly-cluster")
    except CpnetError:
        inv = {"V100": 1280, "P100": 640, "K80": 640}
        return _Cluster((Site("philly", Tier.CLOUD, "simulated", 47.64, -122.13, inv),))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default=str(PHILLY))
    ap.add_argument("--policy", action="append", default=None)
    ap.add_argument("--jobs", type=int, default=None, help="replay only the first N jobs")
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile to stderr")
    args = ap.parse_args()
    catalog = load_catalog()
    throughput = load_throughputs(catalog)
    scenario = _scenario()
    t0 = time.perf_counter()
    jobs = list(open_trace(args.trace, throughput=throughput, seed=0, limit=args.jobs))
    load_s = time.perf_counter() - t0
    runs = []
    for policy in args.policy or ["fifo", "gavel-las"]:
        prof = cProfile.Profile() if args.profile else None
        t0, c0 = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        result = run_simulation(scenario=scenario, jobs=jobs, policy=policy, throughput=throughput, catalog=catalog)
        if prof:
            prof.disable()
        wall_s = time.perf_counter() - t0
        cpu_s = time.process_time() - c0  # on a shared machine, CPU time is the steadier figure
        m = compute_metrics(result)
        runs.append({
            "policy": policy, "jobs": len(result.records), "events": result.events, "wall_s": round(wall_s, 3),
            "jobs_per_s": round(len(result.records) / wall_s, 1), "cpu_s": round(cpu_s, 3),
            "decisions": result.decisions,
            "trace_load_s": round(load_s, 3), "jobs_finished": m.jobs_finished, "avg_jct_s": m.avg_jct_s,
            "utilization": m.utilization,
        })  # fmt: skip
        if prof:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
            print(f"--- profile: {policy} ---\n{out.getvalue()}", file=sys.stderr)
    print(json.dumps({"scenario": getattr(scenario, "name", "?"), "trace": args.trace, "runs": runs}))


if __name__ == "__main__":
    main()
