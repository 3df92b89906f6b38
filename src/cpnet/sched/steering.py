"""Request steering for an inference service: which replica pools serve each region, and what share of it.

Rule: each region sends its requests to its lowest-RTT pool until that pool would pass rho_target or the SLO, then spills to the next-lowest-RTT pool.

This is IETF CATS path selection (a service id resolves to a service instance, chosen by network
and compute metrics): the network metric is the RTT, the compute metric the pool's M/M/c load.
Details:

- A pool is a Pool with c >= 1 replicas, each serving mu = service_rate_rps[model] requests/s. It
  is reachable from region r when RTT(r, p) is finite and, with an SLO, RTT + 1/mu <= SLO.
- Regions are taken nearest first (by the RTT to their nearest reachable pool, then name), so a
  pool's local users claim it before far ones spill onto it.
- A pool p may carry load L up to min(rho_target c mu, the largest L whose p99 end-to-end at
  RTT_max stays <= SLO), where RTT_max is the largest RTT among the regions it serves with r
  included (one FIFO queue: the farthest region binds). A region takes min(its remainder, that
  limit - L_p) and moves on; a pool whose limit would fall below its load by adding a farther
  region is skipped, so earlier regions keep their SLO.
- What no reachable pool can take within its limit is spread over the region's reachable pools in
  proportion to their capacity c mu and reported in `overflow_rps` (those pools pass rho_target
  or the SLO: the plan has too few replicas). Shares of a region always sum to 1.
- A region at rate 0 gets its nearest reachable pool with share 1 (a path exists for its first
  request). A region with no reachable pool gets no shares and is reported in `unserved`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from cpnet.core.errors import CpnetError
from cpnet.core.latency import end_to_end_quantile_ms
from cpnet.core.service import SLO_QUANTILE, Pool
from cpnet.sched.autoscale import DEFAULT_RHO_TARGET

_BISECT_STEPS = 60  # halves the load interval to ~1e-18 of capacity: far below any rate that matters


@dataclass(frozen=True, slots=True)
class Steering:
    """Per region, (pool, share) in fill order; regions with no reachable pool; spill past the limits."""

    shares: dict[str, list[tuple[Pool, float]]]
    unserved: dict[str, str]  # region -> why no pool serves it
    overflow_rps: dict[str, float]  # region -> rate placed beyond the pools' rho/SLO limits
    load_rps: dict[Pool, float]  # each pool's resulting load
    p99_ms: dict[str, float]  # region -> worst predicted p99 over its pools (inf if one is unstable)


def _load_limit(count: int, mu_rps: float, rtt_ms: float, slo_ms: float | None, rho_target: float) -> float:
    """Largest load within rho_target and, with an SLO, whose p99 at `rtt_ms` stays within it (bisection: p99 grows with load)."""
    top = rho_target * count * mu_rps
    if slo_ms is None:
        return top
    if end_to_end_quantile_ms(top, mu_rps, count, rtt_ms, SLO_QUANTILE) <= slo_ms:
        return top
    lo, hi = 0.0, top  # p99 at load 0 is RTT + 1/mu <= SLO (reachability), so lo is feasible
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2
        if end_to_end_quantile_ms(mid, mu_rps, count, rtt_ms, SLO_QUANTILE) <= slo_ms:
            lo = mid
        else:
            hi = mid
    return lo


def steer(
    regions_rate: Mapping[str, float],
    replicas: Mapping[Pool, int],
    rtt_ms: Mapping[str, Mapping[str, float]],
    *,
    service_rate_rps: Mapping[str, float],
    slo_ms: float | None = None,
    rho_target: float = DEFAULT_RHO_TARGET,
) -> Steering:
    """Lowest RTT first, spilling to the next pool when rho_target or the SLO would be passed (see the module docstring).

    `replicas` is e.g. ReplicaPlan.replicas; `rtt_ms[region][site]` the RTT (missing: unreachable);
    `service_rate_rps[model]` a replica's rate (Service.service_rate_rps).
    """
    if not (0 < rho_target <= 1):
        raise CpnetError(f"rho_target must lie in (0, 1], got {rho_target}")
    if slo_ms is not None and not slo_ms > 0:
        raise CpnetError(f"SLO must be > 0 ms, got {slo_ms}")
    for region, rate in regions_rate.items():
        if not (math.isfinite(rate) and rate >= 0):
            raise CpnetError(f"region '{region}': rate must be a finite number >= 0 requests/s, got {rate!r}")
    pools = sorted((p for p, c in replicas.items() if c > 0), key=lambda p: p.key)
    mu: dict[Pool, float] = {}
    for pool in pools:
        if pool.model not in service_rate_rps:
            raise CpnetError(f"pool {pool.label}: no service rate for model '{pool.model}' in service_rate_rps")
        mu[pool] = service_rate_rps[pool.model]

    def rtt(region: str, pool: Pool) -> float:
        return rtt_ms.get(region, {}).get(pool.site, math.inf)

    reachable: dict[str, list[Pool]] = {}
    unserved: dict[str, str] = {}
    for region in regions_rate:
        near = [p for p in pools if math.isfinite(rtt(region, p)) and (slo_ms is None or rtt(region, p) + 1000.0 / mu[p] <= slo_ms)]
        if near:
            reachable[region] = sorted(near, key=lambda p: (rtt(region, p), p.key))
        elif not pools:
            unserved[region] = "no pool has replicas"
        elif not any(math.isfinite(rtt(region, p)) for p in pools):
            unserved[region] = "no pool is reachable"
        else:
            unserved[region] = f"every reachable pool's RTT + service time exceeds the SLO of {slo_ms:g} ms"

    load = {p: 0.0 for p in pools}
    worst_rtt = {p: 0.0 for p in pools}
    served_by: dict[str, dict[Pool, float]] = {}
    overflow: dict[str, float] = {}
    for region in sorted(reachable, key=lambda r: (rtt(r, reachable[r][0]), r)):
        lam = regions_rate[region]
        taken: dict[Pool, float] = {}
        if lam == 0:
            served_by[region] = {reachable[region][0]: 0.0}
            continue
        remaining = lam
        for pool in reachable[region]:
            if remaining <= 0:
                break
            bound_rtt = max(worst_rtt[pool], rtt(region, pool))
            room = _load_limit(replicas[pool], mu[pool], bound_rtt, slo_ms, rho_target) - load[pool]
            if room <= 0:
                continue
            take = min(remaining, room)
            taken[pool] = take
            load[pool] += take
            worst_rtt[pool] = bound_rtt
            remaining -= take
        if remaining > 1e-12 * lam:
            # no pool has room left: spread by capacity, so the overload is shared rather than piled on one pool
            capacity = {p: replicas[p] * mu[p] for p in reachable[region]}
            whole = sum(capacity.values())
            for pool, cap in capacity.items():
                extra = remaining * cap / whole
                taken[pool] = taken.get(pool, 0.0) + extra
                load[pool] += extra
                worst_rtt[pool] = max(worst_rtt[pool], rtt(region, pool))
            overflow[region] = remaining
        served_by[region] = taken

    shares: dict[str, list[tuple[Pool, float]]] = {}
    p99: dict[str, float] = {}
    for region, taken in served_by.items():
        lam = regions_rate[region]
        if lam == 0:
            shares[region] = [(pool, 1.0) for pool in taken]  # the one nearest pool
        else:
            shares[region] = [(pool, rate / lam) for pool, rate in taken.items()]
        p99[region] = max(end_to_end_quantile_ms(load[p], mu[p], replicas[p], rtt(region, p), SLO_QUANTILE) for p in taken)
    return Steering(shares=shares, unserved=unserved, overflow_rps=overflow, load_rps=load, p99_ms=p99)
