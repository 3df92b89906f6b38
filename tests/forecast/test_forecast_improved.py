"""The added options: split-conformal intervals, intermittent / zero-aware models, the auto_wide pool."""

from __future__ import annotations

import numpy as np
import pytest

from cpnet.core.errors import CpnetError
from cpnet.forecast import Conformal, Fitted, backtest, choose_wide, forecast
from cpnet.forecast.model import WIDE_CANDIDATES, ZeroMask

DAYS = 35
HOURS = np.arange(24 * DAYS)
PROFILE = 20.0 * np.exp(-(((np.arange(24) - 14.0) / 3.5) ** 2))


def _day_shocks(seed: int) -> np.ndarray:
    """A daily profile plus a shock shared by all hours of a day: ETS's own intervals are too narrow."""
    rng = np.random.default_rng(seed)
    return 60.0 + PROFILE[HOURS % 24] + np.repeat(rng.normal(0.0, 6.0, DAYS), 24) + rng.normal(0.0, 1.0, len(HOURS))


def _intermittent(seed: int) -> np.ndarray:
    """On/off demand: runs of idle hours (6-40 h) between busy spells with a daily shape."""
    rng = np.random.default_rng(seed)
    y = np.zeros(len(HOURS))
    t, busy = 0, True
    while t < len(y):
        run = int(rng.integers(6, 40))
        if busy:
            y[t : t + run] = 30.0 + PROFILE[HOURS[t : t + run] % 24] + rng.normal(0.0, 2.0, len(y[t : t + run]))
        t, busy = t + run, not busy
    return np.maximum(y, 0.0)


def test_conformal_intervals_reach_nominal_where_the_models_are_too_narrow() -> None:
    y = _day_shocks(seed=1)
    own = backtest(y, [24], "ets").horizons[0].model
    conf = backtest(y, [24], "ets", intervals="conformal").horizons[0].model
    assert own is not None and conf is not None
    assert own.cover95 < 0.85  # the model's own 95 % band misses the day-level shocks
    assert 0.92 <= conf.cover95 <= 1.0 and conf.cover80 > own.cover80 + 0.1
    assert conf.smape == own.smape  # the point forecast is untouched


def test_conformal_bounds_nested_and_nonnegative() -> None:
    y = _day_shocks(seed=1)
    for intervals in ("conformal", "auto"):
        fc = forecast(y, 48, "theta", intervals=intervals)
        assert np.all(fc.lo[95] >= 0.0) and np.all(fc.lo[95] <= fc.lo[80]) and np.all(fc.lo[80] <= fc.mean)
        assert np.all(fc.mean <= fc.hi[80]) and np.all(fc.hi[80] <= fc.hi[95])
    cal = Conformal("snaive24", y, 300)  # past the validation span: the last lead's width is reused
    assert len(cal.width[95]) <= int(0.2 * len(y)) and np.all(cal.width[80] <= cal.width[95])


def test_zero_aware_and_intermittent_models_beat_a_smooth_one_on_intermittent_demand() -> None:
    y = _intermittent(seed=2)
    smooth = backtest(y, [24], "ets", intervals="conformal").horizons[0].model
    masked = backtest(y, [24], "ets+zero", intervals="conformal").horizons[0].model
    assert smooth is not None and masked is not None
    assert masked.smape < 0.9 * smooth.smape
    name, scores = choose_wide(y[: int(0.8 * len(y))])
    assert name in scores and scores[name] <= scores["ets"]
    assert {"crostonsba", "adida", "imapa", "tsb", "ets+zero"} <= set(scores)
    fc = forecast(y, 24, "tsb", intervals="conformal")
    assert np.all(fc.mean == fc.mean[0]) and np.all(fc.hi[95] > fc.mean)


def test_zero_mask_follows_the_state_of_the_last_hour() -> None:
    y = np.tile(np.r_[np.zeros(12), np.ones(12)], 10)
    table = ZeroMask(y).table(6)
    assert table[1, 0] and not table[0, 0]  # after a zero hour: zero next; after a busy hour: not
    fc = Fitted("snaive24+zero", y[:-12]).predict(3)  # the last hour seen is zero
    assert np.all(fc.mean == 0.0) and np.all(fc.lo[95] == 0.0)


def test_auto_wide_and_bad_options() -> None:
    y = _day_shocks(seed=3)
    name, scores = choose_wide(y, intervals="model")
    assert name in WIDE_CANDIDATES and "crostonsba" not in scores  # no own intervals: left out
    result = backtest(y, [24], "auto_wide", intervals="auto")
    assert result.model in scores or result.model.endswith("+zero") or result.model in WIDE_CANDIDATES
    assert result.intervals in ("auto:model", "auto:conformal")
    with pytest.raises(CpnetError, match="intervals"):
        forecast(y, 24, "ets", intervals="bootstrap")
    with pytest.raises(CpnetError, match="no intervals of its own"):
        forecast(y, 24, "adida")
    with pytest.raises(CpnetError, match="unknown model"):
        forecast(y, 24, "auto+zero")
