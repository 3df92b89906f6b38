"""The latency model (cpnet.core.latency) against hand-computed Erlang-C cases."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from cpnet.core.errors import CpnetError
from cpnet.core.latency import (
    end_to_end_quantile_ms,
    erlang_b,
    erlang_c,
    mmc_mean_wait_s,
    mmc_wait_quantile_s,
    mmc_wait_tail,
    replicas_needed,
    utilisation,
)

# Textbook case: lambda = 10/s, mu = 4/s, c = 3, so a = 2.5 Erlangs, rho = 5/6.
#   sum_{k<3} a^k/k! = 1 + 2.5 + 3.125 = 6.625
#   a^3/3! * 1/(1 - rho) = 2.6041667 * 6 = 15.625
#   C(3, 2.5) = 15.625 / (6.625 + 15.625) = 125/178 = 0.7022472
#   Wq = C / (c mu - lambda) = (125/178) / 2 = 125/356 s = 0.3511236 s
# The same via Erlang-B: B1 = 2.5/3.5 = 0.7142857, B2 = 1.7857143/3.7857143 = 0.4716981,
#   B3 = 1.1792453/4.1792453 = 0.2821670; C = B3 / (1 - 5/6 * (1 - B3)) = 0.7022472.
LAM, MU, C3 = 10.0, 4.0, 3
C_3_25 = 125 / 178


def _erlang_c_direct(c: int, a: Fraction) -> Fraction:
    """Closed form with exact fractions (fine for small c)."""
    rho = a / c
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) / (1 - rho)
    return tail / (head + tail)


def test_single_server_waits_with_probability_rho() -> None:
    for rho in (0.0, 0.1, 0.5, 0.9, 0.999):
        assert erlang_c(1, rho) == pytest.approx(rho, abs=1e-12)


def test_two_servers_one_erlang_is_one_third() -> None:
    # B(1,1) = 1/2, B(2,1) = (1/2)/(2 + 1/2) = 1/5; rho = 1/2: C = (1/5)/(1 - 1/2 * 4/5) = 1/3
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


def test_textbook_three_servers() -> None:
    assert erlang_b(3, 2.5) == pytest.approx(0.2821670, abs=1e-7)
    assert erlang_c(3, 2.5) == pytest.approx(C_3_25, rel=1e-12)
    assert utilisation(LAM, MU, C3) == pytest.approx(5 / 6)
    assert mmc_mean_wait_s(LAM, MU, C3) == pytest.approx(125 / 356, rel=1e-12)


def test_matches_closed_form_for_small_pools() -> None:
    for c in range(1, 9):
        for a in (Fraction(1, 4), Fraction(1, 2), Fraction(3, 2), Fraction(c * 9, 10)):
            if a >= c:
                continue
            assert erlang_c(c, float(a)) == pytest.approx(float(_erlang_c_direct(c, a)), rel=1e-12)


def test_large_pool_is_stable() -> None:
    # a^c / c! overflows a float long before c = 1000; the recursion does not
    value = erlang_c(1000, 950.0)
    assert 0.0 < value < 1.0
    assert erlang_c(2000, 100.0) == pytest.approx(0.0, abs=1e-300)


def test_mm1_mean_wait() -> None:
    # M/M/1: Wq = rho / (mu - lambda); lambda = 3, mu = 4: 0.75 / 1 = 0.75 s
    assert mmc_mean_wait_s(3.0, 4.0, 1) == pytest.approx(0.75)
    # lambda = 1, mu = 5: rho = 0.2, Wq = 0.2 / 4 = 0.05 s
    assert mmc_mean_wait_s(1.0, 5.0, 1) == pytest.approx(0.05)


def test_wait_tail() -> None:
    # P(Wq > t) = C exp(-(c mu - lambda) t): t = 0.5 s -> (125/178) e^-1 = 0.2583423
    assert mmc_wait_tail(LAM, MU, C3, 0.5) == pytest.approx(C_3_25 * math.exp(-1.0))
    assert mmc_wait_tail(LAM, MU, C3, 0.5) == pytest.approx(0.2583423, abs=1e-7)
    assert mmc_wait_tail(LAM, MU, C3, 0.0) == pytest.approx(C_3_25)  # P(wait at all)


def test_wait_quantile() -> None:
    # p99: ln(C / 0.01) / 2 = ln(70.22472) / 2 = 4.251702 / 2 = 2.125851 s
    q = mmc_wait_quantile_s(LAM, MU, C3, 0.99)
    assert q == pytest.approx(2.125851, abs=1e-6)
    assert mmc_wait_tail(LAM, MU, C3, q) == pytest.approx(0.01)
    # fewer than 1 % wait at all -> the p99 wait is 0: M/M/1 at rho = 0.005
    assert mmc_wait_quantile_s(0.02, 4.0, 1, 0.99) == 0.0


def test_end_to_end_quantile() -> None:
    # 20 ms RTT + 2125.851 ms p99 wait + 250 ms service = 2395.851 ms
    assert end_to_end_quantile_ms(LAM, MU, C3, rtt_ms=20.0) == pytest.approx(2395.851, abs=1e-3)
    # median: ln(C / 0.5) / 2 = ln(1.404494) / 2 = 0.169839 s -> 20 + 169.839 + 250
    assert end_to_end_quantile_ms(LAM, MU, C3, rtt_ms=20.0, quantile=0.5) == pytest.approx(439.839, abs=1e-3)


def test_replicas_needed_hand_case() -> None:
    # SLO 1250 ms, no RTT, service 250 ms -> the p99 wait may be 1000 ms.
    # c = 3: 2125.9 ms wait (too long). c = 4: C(4, 2.5) = 4.340278 / 13.569444 = 0.319857,
    # p99 wait = ln(31.9857) / 6 = 0.577548 s <= 1 s -> 4 replicas.
    assert erlang_c(4, 2.5) == pytest.approx(0.319857, abs=1e-6)
    assert replicas_needed(LAM, MU, rtt_ms=0.0, slo_ms=1250.0) == 4
    assert end_to_end_quantile_ms(LAM, MU, 4, rtt_ms=0.0) == pytest.approx(827.548, abs=1e-3)


def test_replicas_needed_is_fewest_and_monotone_in_load() -> None:
    mu, rtt, slo = 20.0, 10.0, 100.0  # 50 ms service, 40 ms left for queueing
    previous = 0
    for lam in [1.0, 5.0, 10.0, 19.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0]:
        c = replicas_needed(lam, mu, rtt, slo)
        assert c is not None
        assert c >= previous
        assert c > lam / mu  # stable
        assert end_to_end_quantile_ms(lam, mu, c, rtt) <= slo
        if c > 1:
            assert end_to_end_quantile_ms(lam, mu, c - 1, rtt) > slo
        previous = c


def test_replicas_needed_none_when_rtt_plus_service_exceeds_slo() -> None:
    # 80 ms RTT + 25 ms service = 105 ms > 100 ms, however many replicas
    assert replicas_needed(10.0, 40.0, rtt_ms=80.0, slo_ms=100.0) is None
    # exactly on the SLO: enough replicas make the p99 wait 0
    c = replicas_needed(10.0, 40.0, rtt_ms=75.0, slo_ms=100.0)
    assert c is not None and end_to_end_quantile_ms(10.0, 40.0, c, 75.0) <= 100.0


def test_no_load_needs_one_replica() -> None:
    assert replicas_needed(0.0, 10.0, rtt_ms=5.0, slo_ms=200.0) == 1
    assert mmc_mean_wait_s(0.0, 10.0, 1) == 0.0


@pytest.mark.parametrize("lam", [12.0, 13.0, 1e6])
def test_unstable_pool_waits_forever(lam: float) -> None:
    # c mu = 12 <= lambda: rho >= 1
    assert utilisation(lam, MU, C3) >= 1
    assert erlang_c(C3, lam / MU) == 1.0
    assert mmc_mean_wait_s(lam, MU, C3) == math.inf
    assert mmc_wait_tail(lam, MU, C3, 10.0) == 1.0
    assert mmc_wait_quantile_s(lam, MU, C3) == math.inf
    assert end_to_end_quantile_ms(lam, MU, C3, rtt_ms=5.0) == math.inf


def test_bad_inputs_raise_actionable_errors() -> None:
    with pytest.raises(CpnetError, match="replicas"):
        erlang_c(0, 1.0)
    with pytest.raises(CpnetError, match="service rate"):
        mmc_mean_wait_s(1.0, 0.0, 1)
    with pytest.raises(CpnetError, match="arrival rate"):
        mmc_mean_wait_s(-1.0, 2.0, 1)
    with pytest.raises(CpnetError, match="quantile"):
        mmc_wait_quantile_s(1.0, 2.0, 1, quantile=1.0)
    with pytest.raises(CpnetError, match="RTT"):
        end_to_end_quantile_ms(1.0, 2.0, 1, rtt_ms=-1.0)
    with pytest.raises(CpnetError, match="SLO"):
        replicas_needed(1.0, 2.0, rtt_ms=1.0, slo_ms=0.0)
