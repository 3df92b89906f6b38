"""Forecasts on synthetic series with known daily seasonality recover it; intervals are sane."""

from __future__ import annotations

import numpy as np
import pytest

from cpnet.core.errors import CpnetError
from cpnet.forecast import Fitted, backtest, forecast, parse_horizon

DAYS = 35
HOURS = np.arange(24 * DAYS)
# A non-sinusoidal daily profile (busy office hours, a night trough): known, so it can be checked.
PROFILE = 20.0 * np.exp(-(((np.arange(24) - 14.0) / 3.5) ** 2)) - 6.0 * np.exp(-(((np.arange(24) - 3.0) / 2.0) ** 2))


def _series(noise_sd: float, seed: int, trend: float = 0.02) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 60.0 + trend * HOURS + PROFILE[HOURS % 24] + rng.normal(0.0, noise_sd, len(HOURS))


@pytest.mark.parametrize("model", ["auto", "ensemble", "mstl", "ets", "theta"])
def test_forecast_recovers_the_daily_season(model: str) -> None:
    y = _series(noise_sd=2.0, seed=0)
    fc = forecast(y[:-24], 24, model)
    truth_season = PROFILE[HOURS[-24:] % 24]
    assert np.corrcoef(fc.mean, truth_season)[0, 1] > 0.9
    # and the level with the trend: the mean error over the day is small against the profile's range
    assert abs(float(np.mean(fc.mean - (60.0 + 0.02 * HOURS[-24:] + truth_season)))) < 2.0


def test_model_beats_seasonal_naive_when_noise_dominates() -> None:
    # Seasonal naive carries two days' noise (sd * sqrt 2); a fitted season averages it away.
    y = _series(noise_sd=6.0, seed=1)
    result = backtest(y, [24], model="ets")
    (h24,) = result.horizons
    assert h24.model is not None
    naive = h24.baselines["snaive24"]
    assert h24.model.smape < 0.8 * naive.smape
    assert h24.model.mase < 0.8 * naive.mase


def test_intervals_nested_and_coverage_near_nominal() -> None:
    y = _series(noise_sd=4.0, seed=2, trend=0.0)
    result = backtest(y, [1, 24], model="ets")
    for hr in result.horizons:
        assert hr.model is not None
        assert 0.88 <= hr.model.cover95 <= 1.0
        assert 0.65 <= hr.model.cover80 <= 0.95
    for name in ("mstl", "ets", "theta", "snaive24"):
        fc = Fitted(name, y).predict(48)
        assert np.all(fc.lo[95] <= fc.lo[80]) and np.all(fc.lo[80] <= fc.mean)
        assert np.all(fc.mean <= fc.hi[80]) and np.all(fc.hi[80] <= fc.hi[95])


def test_demand_is_never_negative() -> None:
    rng = np.random.default_rng(3)
    y = np.maximum(0.0, 0.5 * PROFILE[HOURS % 24] / 20.0 + rng.normal(0.0, 1.0, len(HOURS)))
    fc = forecast(y, 48, "ets")
    assert fc.mean.min() >= 0.0 and fc.lo[95].min() >= 0.0


def test_horizons_and_too_short_series() -> None:
    assert [parse_horizon(t) for t in ("1h", "24h", "7d", "90d", "2w", "12")] == [1, 24, 168, 2160, 336, 12]
    for bad in ("0h", "1y", "-3d", "d"):
        with pytest.raises(CpnetError, match="horizon"):
            parse_horizon(bad)
    y = _series(noise_sd=2.0, seed=4)
    result = backtest(y, [2160], model="snaive24")
    assert result.horizons[0].status == "series too short" and result.horizons[0].model is None
    with pytest.raises(CpnetError, match="at least"):
        backtest(y[:30], [1])
    with pytest.raises(CpnetError, match="unknown model"):
        forecast(y, 24, "prophet")
