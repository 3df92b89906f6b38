"""Replica autoscaling for an inference service: how many replicas per pool meet the p99 SLO at the fewest device-hours.

Rule (greedy by marginal devices). Each pool (accelerator model at a site, cpnet.core.service.Pool)
is one M/M/c queue (cpnet.core.latency) whose replicas serve the whole traffic of the regions
assigned to it; a region goes to exactly one pool. Regions are taken in descending request rate
(name breaks ties), so the big ones pick first. For region r at rate lambda_r, a pool p is feasible
when

- the service allows it (model allowed, inside the residency region, a whole replica free),
- RTT(r, p) + 1/mu_p <= SLO (otherwise no replica count helps: more replicas only shorten the wait),
- the pool with r added needs c' = max(replicas_needed(L_p + lambda_r, mu_p, RTT_max, SLO),
  ceil((L_p + lambda_r) / (rho_target mu_p))) replicas, and c' fits its free devices and the
  service's max_replicas (all pools together),

where L_p is the load already assigned to p and RTT_max the largest RTT among p's regions and r: one
FIFO queue gives every region the same wait, so the farthest region binds. r takes the feasible
pool that adds the fewest devices, (c' - c_p) x devices_per_replica; ties go to the lower device
cost per request (devices_per_replica / mu_p), then the lower RTT, then (site, model). A region no
pool can take is reported in `unserved` with each pool's reason. Afterwards, if fewer than
min_replicas replicas were placed, replicas are added to used pools first, then to the cheapest
per request, as free devices allow (`min_shortfall` says how many could not be placed).

Device-hours per hour = sum of replicas x devices_per_replica (the shape is the same on every
pool, so fewest devices is fewest replicas). The greedy is not exact: assigning regions one by one
can miss a cheaper split of regions over pools, and a region is never split over several pools
(cpnet.sched.steering does that at routing time). `rho_target` (default 0.8, as steering) keeps
headroom for forecast error; 1.0 sizes by the SLO alone.

Predicted p99 per served region: RTT(r, p) + p99 wait of p at its final load and replicas + 1/mu_p.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cpnet.core.errors import CpnetError, UnknownNameError
from cpnet.core.latency import end_to_end_quantile_ms, replicas_needed
from cpnet.core.service import SLO_QUANTILE, Pool, Service

DEFAULT_RHO_TARGET = 0.8  # utilisation a pool is planned (and steered) up to, leaving room for bursts


@dataclass(frozen=True, slots=True)
class ReplicaPlan:
    """Replicas per pool for one service at `at_s`, the region -> pool assignment, and predicted p99s."""

    service: str
    at_s: float
    devices_per_replica: int
    replicas: dict[Pool, int]  # pools with at least one replica
    load_rps: dict[Pool, float]  # the rate each pool is planned for
    assignment: dict[str, Pool]  # served region -> its pool
    p99_ms: dict[str, float]  # served region -> predicted p99 end-to-end
    unserved: dict[str, str]  # region that no pool can serve -> why, pool by pool
    min_shortfall: int = 0  # replicas of min_replicas that found no free devices

    @property
    def total_replicas(self) -> int:
        return sum(self.replicas.values())

    @property
    def devices(self) -> int:
        """Devices the plan holds: replicas x devices per replica."""
        return self.total_replicas * self.devices_per_replica

    @property
    def device_hours_per_hour(self) -> float:
        """Device-hours the plan costs per hour it runs (= devices)."""
        return float(self.devices)


def _check_rates(service: Service, rate_by_region: Mapping[str, float] | None, now_s: float) -> dict[str, float]:
    rates = service.rates_at(now_s)
    for region, rate in (rate_by_region or {}).items():
        if region not in service.demand:
            raise UnknownNameError(f"region (rates for service '{service.name}')", region, service.demand)
        rates[region] = rate
    for region, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not (math.isfinite(rate) and rate >= 0):
            raise CpnetError(f"service '{service.name}', region '{region}': rate must be a finite number >= 0 requests/s, got {rate!r}")
    return rates


def _check_pools(pools: Sequence[Pool]) -> None:
    seen: set[tuple[str, str]] = set()
    for pool in pools:
        if pool.key in seen:
            raise CpnetError(f"pool {pool.label} is listed twice; expected one pool per (site, model)")
        seen.add(pool.key)


def _rtt(rtt_ms: Mapping[str, Mapping[str, float]], region: str, site: str) -> float:
    return rtt_ms.get(region, {}).get(site, math.inf)


def _replicas_for(load_rps: float, mu_rps: float, rtt_ms: float, slo_ms: float, rho_target: float) -> int | None:
    """Fewest replicas meeting both the SLO at `rtt_ms` and rho <= rho_target; None if the SLO is out of reach."""
    by_slo = replicas_needed(load_rps, mu_rps, rtt_ms, slo_ms, SLO_QUANTILE)
    if by_slo is None:
        return None
    # a little slack so that exact multiples (e.g. 8 rps / (0.8 x 10)) do not round up on float noise
    by_rho = math.ceil(load_rps / (rho_target * mu_rps) - 1e-9)
    return max(by_slo, by_rho, 1)


def plan_replicas(
    service: Service,
    pools: Sequence[Pool],
    rtt_ms: Mapping[str, Mapping[str, float]],
    rate_by_region: Mapping[str, float] | None = None,
    now_s: float = 0.0,
    *,
    rho_target: float = DEFAULT_RHO_TARGET,
) -> ReplicaPlan:
    """Greedy by marginal devices: each region, biggest first, joins the feasible pool that adds the fewest devices.

    `rtt_ms[region][site]` is the users' RTT to a site (missing: unreachable). `rate_by_region`
    (e.g. a forecast) overrides the service's own series, read at `now_s`, region by region.
    """
    if not (0 < rho_target <= 1):
        raise CpnetError(f"rho_target must lie in (0, 1], got {rho_target}")
    _check_pools(pools)
    rates = _check_rates(service, rate_by_region, now_s)
    dpr = service.devices_per_replica
    slo = service.slo_p99_ms
    ineligible = {pool: why for pool in pools if (why := service.allows(pool)) is not None}
    eligible = sorted((p for p in pools if p not in ineligible), key=lambda p: p.key)
    room = {p: p.free_devices // dpr for p in eligible}
    replicas = {p: 0 for p in eligible}
    load = {p: 0.0 for p in eligible}
    worst_rtt = {p: 0.0 for p in eligible}
    assignment: dict[str, Pool] = {}
    unserved: dict[str, str] = {}
    total = 0

    for region in sorted((r for r, rate in rates.items() if rate > 0), key=lambda r: (-rates[r], r)):
        lam = rates[region]
        best: tuple[tuple[float, float, float, tuple[str, str]], Pool, int] | None = None
        reasons = [f"{p.label}: {why}" for p, why in sorted(ineligible.items(), key=lambda item: item[0].key)]
        for pool in eligible:
            rtt = _rtt(rtt_ms, region, pool.site)
            mu = service.service_rate_rps[pool.model]
            if not math.isfinite(rtt):
                reasons.append(f"{pool.label}: unreachable")
                continue
            if rtt + 1000.0 / mu > slo:
                reasons.append(f"{pool.label}: RTT {rtt:g} ms + service {1000.0 / mu:g} ms > SLO {slo:g} ms")
                continue
            need = _replicas_for(load[pool] + lam, mu, max(worst_rtt[pool], rtt), slo, rho_target)
            if need is None or need > room[pool]:
                reasons.append(f"{pool.label}: needs {need if need is not None else 'too many'} replicas, room for {room[pool]}")
                continue
            added = need - replicas[pool]
            if service.max_replicas is not None and total + added > service.max_replicas:
                reasons.append(f"{pool.label}: {total + added} replicas in all would pass max_replicas {service.max_replicas}")
                continue
            rank = (float(added * dpr), dpr / mu, rtt, pool.key)
            if best is None or rank < best[0]:
                best = (rank, pool, need)
        if best is None:
            unserved[region] = "; ".join(reasons) if reasons else "no candidate pools"
            continue
        _, pool, need = best
        total += need - replicas[pool]
        replicas[pool] = need
        load[pool] += lam
        worst_rtt[pool] = max(worst_rtt[pool], _rtt(rtt_ms, region, pool.site))
        assignment[region] = pool

    # min_replicas: top up where replicas already run (no new site to operate), then cheapest per request
    deficit = service.min_replicas - total
    for pool in sorted(eligible, key=lambda p: (replicas[p] == 0, dpr / service.service_rate_rps[p.model], p.key)):
        if deficit <= 0:
            break
        add = min(deficit, room[pool] - replicas[pool])
        replicas[pool] += add
        deficit -= add

    p99 = {
        region: end_to_end_quantile_ms(load[pool], service.service_rate_rps[pool.model], replicas[pool], _rtt(rtt_ms, region, pool.site), SLO_QUANTILE)
        for region, pool in assignment.items()
    }
    used = {p: c for p, c in replicas.items() if c > 0}
    return ReplicaPlan(
        service=service.name,
        at_s=now_s,
        devices_per_replica=dpr,
        replicas=used,
        load_rps={p: load[p] for p in used},
        assignment=assignment,
        p99_ms=p99,
        unserved=unserved,
        min_shortfall=max(deficit, 0),
    )
