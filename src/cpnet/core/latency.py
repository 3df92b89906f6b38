"""Latency of an inference service: network RTT + queueing in a replica pool + service time.

Queueing model: **M/M/c** (Poisson arrivals at `arrival_rate_per_s` = lambda, `replicas` = c
identical servers, exponential service at `service_rate_per_s` = mu each, one FIFO queue).

Why M/M/c and not M/D/c: M/M/c has a closed-form waiting-time distribution, so a p99 can be
computed exactly, with no numerical inversion:

    a   = lambda / mu                       offered load, Erlangs
    rho = a / c                             utilisation of one replica (stable only if rho < 1)
    B(0, a) = 1;  B(k, a) = a B(k-1, a) / (k + a B(k-1, a))      Erlang-B, recursive (stable)
    C(c, a) = B / (1 - rho (1 - B))         Erlang-C: probability that a request waits
    Wq      = C / (c mu - lambda)           mean wait in the queue
    P(Wq > t) = C exp(-(c mu - lambda) t)   waiting-time tail
    q_p(Wq) = ln(C / (1 - p)) / (c mu - lambda)  if C > 1 - p, else 0

Inference service times are closer to deterministic (M/D/c) than exponential. M/D/c waits are
shorter: the Cosmetatos / Kingman-type approximation puts the M/D/c mean wait at about half the
M/M/c one (the (1 + cs^2)/2 factor with service-time coefficient of variation cs = 0), and its tail
is lighter too. So M/M/c over-estimates queueing and is conservative for an SLO: a pool sized by
it meets the SLO under deterministic service as well.

End-to-end p-quantile (`end_to_end_quantile_ms`) = RTT + q_p(Wq) + 1/mu. The service time enters
as its mean (a fixed-size request on a fixed profile takes nearly constant time) and the quantiles
are added, which bounds the quantile of the sum from above. RTT is the round trip between the
client's site and the pool's site (cpnet.core.paths gives it from the topology).

Unstable pools (rho >= 1, or c mu <= lambda) give C = 1 and an infinite wait, never an error.
"""

from __future__ import annotations

import math

from cpnet.core.errors import CpnetError

# replicas_needed gives up past this many replicas (a guard against a loop that cannot end
# for bad inputs; with rtt + service <= SLO the search ends well before it for any sane load)
MAX_REPLICAS = 1_000_000


def _check_rates(arrival_rate_per_s: float, service_rate_per_s: float) -> None:
    if not (arrival_rate_per_s >= 0 and math.isfinite(arrival_rate_per_s)):
        raise CpnetError(f"arrival rate must be a finite number >= 0 per second, got {arrival_rate_per_s}")
    if not (service_rate_per_s > 0 and math.isfinite(service_rate_per_s)):
        raise CpnetError(f"service rate must be a finite number > 0 per second, got {service_rate_per_s}")


def _check_replicas(replicas: int) -> None:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise CpnetError(f"replicas must be an integer >= 1, got {replicas!r}")


def _check_quantile(quantile: float) -> None:
    if not 0 < quantile < 1:
        raise CpnetError(f"quantile must lie strictly between 0 and 1 (e.g. 0.99), got {quantile}")


def _erlang_b_step(k: int, a: float, b_prev: float) -> float:
    """B(k, a) from B(k-1, a): stays in [0, 1], so it never overflows (unlike a^c / c!)."""
    return a * b_prev / (k + a * b_prev)


def _erlang_c_from_b(c: int, a: float, b: float) -> float:
    rho = a / c
    if rho >= 1:
        return 1.0
    return b / (1 - rho * (1 - b))


def erlang_b(replicas: int, offered_load_erlangs: float) -> float:
    """Erlang-B blocking probability B(c, a) of an M/M/c/c loss system."""
    _check_replicas(replicas)
    if not (offered_load_erlangs >= 0 and math.isfinite(offered_load_erlangs)):
        raise CpnetError(f"offered load must be a finite number >= 0 Erlangs, got {offered_load_erlangs}")
    b = 1.0
    for k in range(1, replicas + 1):
        b = _erlang_b_step(k, offered_load_erlangs, b)
    return b


def erlang_c(replicas: int, offered_load_erlangs: float) -> float:
    """Erlang-C probability that an arrival waits, C(c, a); 1.0 when a >= c (unstable)."""
    b = erlang_b(replicas, offered_load_erlangs)
    return _erlang_c_from_b(replicas, offered_load_erlangs, b)


def utilisation(arrival_rate_per_s: float, service_rate_per_s: float, replicas: int) -> float:
    """rho = lambda / (c mu); >= 1 means the queue grows without bound."""
    _check_rates(arrival_rate_per_s, service_rate_per_s)
    _check_replicas(replicas)
    return arrival_rate_per_s / (replicas * service_rate_per_s)


def _wait_terms(arrival_rate_per_s: float, service_rate_per_s: float, replicas: int) -> tuple[float, float]:
    """(C, c mu - lambda) for a stable pool; (1, 0) for an unstable one."""
    rho = utilisation(arrival_rate_per_s, service_rate_per_s, replicas)
    if rho >= 1:
        return 1.0, 0.0
    c_prob = erlang_c(replicas, arrival_rate_per_s / service_rate_per_s)
    return c_prob, replicas * service_rate_per_s - arrival_rate_per_s


def mmc_mean_wait_s(arrival_rate_per_s: float, service_rate_per_s: float, replicas: int) -> float:
    """Mean time in the queue (before service), seconds; inf when rho >= 1."""
    c_prob, drain_per_s = _wait_terms(arrival_rate_per_s, service_rate_per_s, replicas)
    if drain_per_s <= 0:
        return math.inf
    return c_prob / drain_per_s


def mmc_wait_tail(arrival_rate_per_s: float, service_rate_per_s: float, replicas: int, wait_s: float) -> float:
    """P(Wq > wait_s) = C exp(-(c mu - lambda) t); 1.0 when rho >= 1."""
    if not wait_s >= 0:
        raise CpnetError(f"wait must be >= 0 seconds, got {wait_s}")
    c_prob, drain_per_s = _wait_terms(arrival_rate_per_s, service_rate_per_s, replicas)
    if drain_per_s <= 0:
        return 1.0
    return c_prob * math.exp(-drain_per_s * wait_s)


def _wait_quantile_s(c_prob: float, drain_per_s: float, quantile: float) -> float:
    if drain_per_s <= 0:
        return math.inf
    if c_prob <= 1 - quantile:
        # at least a fraction `quantile` of requests start service at once
        return 0.0
    return math.log(c_prob / (1 - quantile)) / drain_per_s


def mmc_wait_quantile_s(arrival_rate_per_s: float, service_rate_per_s: float, replicas: int, quantile: float = 0.99) -> float:
    """The `quantile` of the queueing wait, seconds (0 if few enough requests wait; inf if unstable)."""
    _check_quantile(quantile)
    c_prob, drain_per_s = _wait_terms(arrival_rate_per_s, service_rate_per_s, replicas)
    return _wait_quantile_s(c_prob, drain_per_s, quantile)


def _check_rtt(rtt_ms: float) -> None:
    if not (rtt_ms >= 0 and math.isfinite(rtt_ms)):
        raise CpnetError(f"RTT must be a finite number >= 0 ms, got {rtt_ms}")


def end_to_end_quantile_ms(
    arrival_rate_per_s: float,
    service_rate_per_s: float,
    replicas: int,
    rtt_ms: float,
    quantile: float = 0.99,
) -> float:
    """RTT + `quantile` of the queueing wait + mean service time, milliseconds (inf if unstable)."""
    _check_rtt(rtt_ms)
    wait_s = mmc_wait_quantile_s(arrival_rate_per_s, service_rate_per_s, replicas, quantile)
    return rtt_ms + 1000.0 * (wait_s + 1.0 / service_rate_per_s)


def replicas_needed(
    arrival_rate_per_s: float,
    service_rate_per_s: float,
    rtt_ms: float,
    slo_ms: float,
    quantile: float = 0.99,
) -> int | None:
    """Fewest replicas c whose end-to-end `quantile` is <= `slo_ms`; None if no c can meet it.

    No c can when RTT + service time alone exceed the SLO: the wait only falls towards 0 as c grows.
    """
    _check_rates(arrival_rate_per_s, service_rate_per_s)
    _check_rtt(rtt_ms)
    _check_quantile(quantile)
    if not slo_ms > 0:
        raise CpnetError(f"SLO must be > 0 ms, got {slo_ms}")
    floor_ms = rtt_ms + 1000.0 / service_rate_per_s
    if floor_ms > slo_ms:
        return None
    slack_s = (slo_ms - floor_ms) / 1000.0
    a = arrival_rate_per_s / service_rate_per_s
    # Walk c upwards carrying Erlang-B along (O(c) in all, not O(c^2)).
    b = 1.0
    for c in range(1, MAX_REPLICAS + 1):
        b = _erlang_b_step(c, a, b)
        if a >= c:
            continue  # unstable: infinite wait
        c_prob = _erlang_c_from_b(c, a, b)
        wait_s = _wait_quantile_s(c_prob, c * service_rate_per_s - arrival_rate_per_s, quantile)
        if wait_s <= slack_s:
            return c
    return None
