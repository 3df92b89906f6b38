"""Tiny literal fixtures for simulator tests: two pools, a dict throughput table, greedy policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cpnet.core.model import Accelerator, JobSpec, Link, Site, Tenant, Tier
from cpnet.core.snapshot import Decision, Infeasible, Placement, Snapshot


@dataclass(frozen=True)
class ToyNetwork:
    sites: tuple[Site, ...]
    links: tuple[Link, ...] = ()
    tenants: Mapping[str, Tenant] = field(default_factory=dict)
    name: str = "toy"


def toy_network(v100: int = 4, k80: int = 2) -> ToyNetwork:
    inv = {m: n for m, n in {"V100": v100, "K80": k80}.items() if n}
    site = Site("s1", Tier.CLOUD, "r", 0.0, 0.0, inv, pue=1.5, price_usd_per_kwh=0.2, carbon_g_per_kwh=400.0)
    return ToyNetwork((site,), tenants={"a": Tenant("a", 1.0), "b": Tenant("b", 1.0)})


CATALOG = {
    "V100": Accelerator("V100", "NVIDIA", 125.0, 16.0, 900.0, 300.0, "test"),
    "K80": Accelerator("K80", "NVIDIA", 8.7, 12.0, 480.0, 150.0, "test"),
}


class DictThroughput:
    """steps/s = per-device rate x num_devices (linear scaling), None for unknown pairs."""

    def __init__(self, rates: Mapping[tuple[str, str], float]) -> None:
        self.rates = dict(rates)

    def steps_per_s(self, job_type: str, accelerator: str, num_devices: int) -> float | None:
        r = self.rates.get((job_type, accelerator))
        return None if r is None else r * num_devices


THROUGHPUT = DictThroughput({("t", "V100"): 2.0, ("t", "K80"): 1.0})


def job(i: int, arrival_s: float, steps: float, n: int = 1, tenant: str = "a", job_type: str = "t") -> JobSpec:
    return JobSpec(f"j{i}", tenant, job_type, n, steps, arrival_s)


class GreedyFifo:
    """Start waiting jobs in arrival order on the first pool (sorted) with room; no preemption."""

    name = "toy-fifo"

    def __init__(self, round_s: float | None = None) -> None:
        self.round_s = round_s

    def decide(self, snap: Snapshot) -> Decision:
        free = dict(snap.free)
        out, bad = [], []
        cap = snap.capacity()
        for v in snap.jobs:
            if v.placement is not None:
                continue
            pools = [p for p in sorted(cap) if snap.throughput.steps_per_s(v.spec.job_type, p[1], v.spec.num_devices)]
            if not any(cap[p] >= v.spec.num_devices for p in pools):
                bad.append(Infeasible(v.id, "no pool is big enough"))
                continue
            for p in pools:
                if free[p] >= v.spec.num_devices:
                    free[p] -= v.spec.num_devices
                    out.append(Placement(v.id, p[0], p[1], v.spec.num_devices))
                    break
            else:
                break  # strict FIFO: the head blocks the queue
        return Decision(placements=tuple(out), infeasible=tuple(bad), policy_state=(snap.policy_state or 0) + 1)
