"""Placement speed at scale: one `schedule()` call over 10,000 waiting jobs on 100 / 1,000 / 10,000 sites.

Networks: N sites of 100 devices each (no links), every site two pools of models drawn from
V100/P100/K80/A100/T4 (the catalog models with throughputs for Gavel's job types), split 50/50,
60/40 or 70/30, all free. Jobs: 10,000 of Gavel's workload generator
(cpnet.sim.traces.gavel_workload, seed 0, multi-GPU gangs of 1/2/4/8, Gavel's 26 job types), all
waiting at the last arrival time. Per policy (`fifo`, `gavel-las`, and `convergent` when it is
registered) and network, two calls are timed:

* `cold`: a fresh policy state, so the call builds the network index and runs the filters over
  every pool once per job shape (what the first call on a new network pays);
* `warm`: the same jobs with an index that has seen every shape (the steady state: the index
  persists in policy_state while the network is unchanged), i.e. the placement work alone.

Prints one JSON object: {"runs": [{"policy", "sites", "devices", "jobs", "placements",
"cold_wall_s", "warm_wall_s", "placements_per_s" (warm), "ms_per_placement" (warm),
"cold_placements_per_s"}...], "targets": {...}, "scaling": {...}}.
Targets at 1,000 sites (100k devices), warm: fifo (and convergent) >= 20,000 placements/s,
gavel-las >= 5,000/s; cost per placement growing no worse than logarithmically in sites.

`--busy F` fills the first fraction F of sites in the default site order (the worst case for a
first-fit scan from the top).

Usage: python bench/placement_scale.py [--sites 100 1000 10000] [--jobs 10000] [--policy P ...] [--busy F]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import sys
import time
from typing import Any

MODELS = ("V100", "P100", "K80", "A100", "T4")
SPLITS = ((50, 50), (60, 40), (70, 30))


def network(n_sites: int, seed: int = 0) -> tuple[Any, ...]:
    from cpnet.core.model import Site, Tier

    rng = random.Random(seed)
    sites = []
    for i in range(n_sites):
        a, b = rng.sample(MODELS, 2)
        x, y = rng.choice(SPLITS)
        sites.append(Site(id=f"s{i:05d}", tier=Tier.CLOUD, region="r", lat=0.0, lon=0.0, inventory={a: x, b: y}, price_usd_per_kwh=0.05 + 0.001 * (i % 97)))
    return tuple(sites)


def snapshot(sites: tuple[Any, ...], jobs: tuple[Any, ...], throughput: Any, state: Any = None, busy: float = 0.0) -> Any:
    """All devices free, except at the `busy` fraction of sites that come first in the default
    site order (cheapest energy, then id): those are full (held outside the snapshot's jobs), the
    worst case for a first-fit scan from the top."""
    from cpnet.core.snapshot import Snapshot

    order = sorted(sites, key=lambda s: (s.price_usd_per_kwh * s.pue, s.id))
    full = {s.id for s in order[: int(busy * len(sites))]}
    free = {(s.id, m): 0 if s.id in full else c for s in sites for m, c in s.inventory.items()}
    now = jobs[-1].spec.arrival_s if jobs else 0.0
    return Snapshot(now_s=now, sites=sites, jobs=jobs, free=free, throughput=throughput, seed=0, policy_state=state)


def warm_state(state: Any) -> Any:
    """A first-call state that keeps `state`'s network index (every shape memoised)."""
    from cpnet.sched.policies.fifo import FifoState
    from cpnet.sched.rounds import RoundState

    if isinstance(state, FifoState):
        return FifoState(state.network, None, float("-inf"), frozenset())
    if isinstance(state, RoundState):
        return RoundState(index=state.index)
    return None


def run(policy_name: str, n_sites: int, n_jobs: int, throughput: Any, busy: float = 0.0) -> dict[str, object]:
    from cpnet.core.snapshot import JobView
    from cpnet.sched.registry import make_policy
    from cpnet.sched.runner import schedule
    from cpnet.sim.traces.gavel_workload import gavel_workload

    sites = network(n_sites)
    specs = list(gavel_workload(rate_jobs_per_hr=5.6, num_jobs=n_jobs, seed=0, throughput=throughput, multi_gpu=True))
    now = specs[-1].arrival_s
    jobs = tuple(JobView(spec=s, as_of_s=now) for s in specs)
    policy = make_policy(policy_name)
    snap = snapshot(sites, jobs, throughput, busy=busy)
    t0 = time.perf_counter()
    cold = schedule(snap, policy)
    cold_s = time.perf_counter() - t0
    warm_snap = snapshot(sites, jobs, throughput, warm_state(cold.policy_state), busy=busy)
    t0 = time.perf_counter()
    warm = schedule(warm_snap, policy)
    warm_s = time.perf_counter() - t0
    n = len(warm.placements)
    if (warm.placements, warm.infeasible) != (cold.placements, cold.infeasible):
        raise SystemExit(f"{policy_name}@{n_sites}: warm and cold calls disagree")
    return {
        "policy": policy_name,
        "sites": n_sites,
        "busy_fraction": busy,
        "devices": sum(sum(s.inventory.values()) for s in sites),
        "jobs": n_jobs,
        "shapes": len({(s.job_type, s.num_devices) for s in specs}),
        "placements": n,
        "devices_placed": sum(p.num_devices for p in warm.placements),
        "cold_wall_s": round(cold_s, 4),
        "warm_wall_s": round(warm_s, 4),
        "placements_per_s": round(n / warm_s, 1) if warm_s > 0 else None,
        "ms_per_placement": round(1000.0 * warm_s / n, 5) if n else None,
        "cold_placements_per_s": round(n / cold_s, 1) if cold_s > 0 else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--policy", nargs="+", default=None)
    ap.add_argument("--busy", type=float, default=0.0, help="fraction of sites full, first in site order")
    args = ap.parse_args()
    from cpnet.catalog import load_catalog, load_throughputs
    from cpnet.sched.registry import policy_names

    throughput = load_throughputs(load_catalog())
    names = args.policy or [p for p in ("fifo", "gavel-las", "convergent") if p in policy_names()]
    real_stdout = os.dup(1)
    os.dup2(2, 1)  # HiGHS prints a banner on fd 1 when first constructed; keep stdout for the JSON
    runs = []
    for p in names:
        for n in args.sites:
            r = run(p, n, args.jobs, throughput, args.busy)
            print(json.dumps(r), file=sys.stderr, flush=True)
            runs.append(r)
    by = {(r["policy"], r["sites"]): r for r in runs}
    targets: dict[str, object] = {}
    for p, need in (("fifo", 20000.0), ("convergent", 20000.0), ("gavel-las", 5000.0)):
        r = by.get((p, 1000))
        if r is not None and r["placements_per_s"] is not None:
            targets[f"{p}@1000_sites>={int(need)}/s"] = float(r["placements_per_s"]) >= need
    scaling: dict[str, object] = {}
    for p in names:
        pts = sorted((int(r["sites"]), float(r["ms_per_placement"])) for r in runs if r["policy"] == p and r["ms_per_placement"])
        for (s0, c0), (s1, c1) in itertools.pairwise(pts):
            # cost ratio against the log ratio of sites: <= 1 is "no worse than logarithmic"
            scaling[f"{p}:{s0}->{s1}"] = {"cost_ratio": round(c1 / c0, 3), "log_sites_ratio": round(math.log(s1) / math.log(s0), 3)}
    os.dup2(real_stdout, 1)
    print(json.dumps({"runs": runs, "targets": targets, "scaling": scaling}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
