"""Forecast models (statsforecast) with 80 % and 95 % intervals, and the choice among them.

Models, all from statsforecast 2.1.1 (C++ core, no JIT compile):
  mstl      MSTL: seasons 24 h and 168 h (168 only with two weeks of history) removed by repeated
            STL, the rest (trend + remainder) forecast by AutoETS without season; intervals from it.
  ets       AutoETS, season 24 h (error/trend/season forms chosen by AICc).
  theta     AutoTheta, season 24 h (classical multiplicative decomposition test inside).
  snaive24  seasonal naive, season 24 h: tomorrow's hour = today's; the baseline.
  snaive168 seasonal naive, season 168 h: next week's hour = this week's.
  ensemble  equal-weight mean of mstl, ets and theta: means and interval bounds averaged.
  auto      the one of mstl, ets, theta, ensemble with the lowest sMAPE on a validation split (the
            last 20 % of the history it is given, forecast in rolling 24 h windows); never looks
            past the history it is given.

Demand is never negative: means and lower bounds are clipped at 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from cpnet.core.errors import CpnetError

FloatArray = npt.NDArray[np.float64]
LEVELS = (80, 95)
DAY = 24
WEEK = 168
MODEL_NAMES = ("auto", "ensemble", "mstl", "ets", "theta", "snaive24", "snaive168")
ENSEMBLE_MEMBERS = ("mstl", "ets", "theta")
AUTO_CANDIDATES = ("mstl", "ets", "theta", "ensemble")
VALIDATION_FRACTION = 0.2


class ForecastError(CpnetError):
    """A forecast cannot be made as asked (bad horizon, unknown model, too little history)."""


class _StatsModel(Protocol):
    """The part of a statsforecast model used here."""

    def fit(self, y: npt.NDArray[Any], X: npt.NDArray[Any] | None = ...) -> Any: ...

    def predict(self, h: int, X: npt.NDArray[Any] | None = ..., level: list[int] | None = ...) -> Any: ...

    def forward(
        self,
        y: npt.NDArray[Any],
        h: int,
        X: npt.NDArray[Any] | None = ...,
        X_future: npt.NDArray[Any] | None = ...,
        level: list[int] | None = ...,
        fitted: bool = ...,
    ) -> Any: ...


@dataclass(frozen=True, slots=True, eq=False)
class Forecast:
    """Point forecast and interval bounds for the `len(mean)` hours after the history's end."""

    model: str
    mean: FloatArray = field(repr=False)
    lo: dict[int, FloatArray] = field(repr=False)  # level (80, 95) -> lower bound
    hi: dict[int, FloatArray] = field(repr=False)


def parse_horizon(text: str) -> int:
    """Hours in a horizon like `1h`, `24h`, `7d`, `2w`, `90d` (a bare number is hours)."""
    m = re.fullmatch(r"\s*(\d+)\s*([hdw]?)\s*", text.lower())
    if m is None or int(m.group(1)) < 1:
        raise ForecastError(f"horizon {text!r}: expected a positive whole number of hours, days or weeks, e.g. 24h, 7d, 90d")
    return int(m.group(1)) * {"": 1, "h": 1, "d": DAY, "w": WEEK}[m.group(2)]


def _factory(name: str, n: int) -> Callable[[], _StatsModel]:
    from statsforecast.models import MSTL, AutoETS, AutoTheta, SeasonalNaive

    if name == "mstl":
        seasons = [DAY, WEEK] if n >= 2 * WEEK + DAY else [DAY]
        return lambda: MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN"))
    if name == "ets":
        return lambda: AutoETS(season_length=DAY)
    if name == "theta":
        return lambda: AutoTheta(season_length=DAY)
    if name == "snaive24":
        return lambda: SeasonalNaive(season_length=DAY)
    if name == "snaive168":
        return lambda: SeasonalNaive(season_length=WEEK)
    raise ForecastError(f"unknown model {name!r}; valid: {', '.join(MODEL_NAMES)}")


def min_history(name: str) -> int:
    """Hours of history a model needs: two full seasons."""
    return 2 * WEEK if name == "snaive168" else 2 * DAY


class Fitted:
    """A model fitted once on a history; forecasts from any later origin reuse its parameters."""

    __slots__ = ("name", "_models")

    def __init__(self, name: str, y: FloatArray) -> None:
        if name == "auto":
            raise ForecastError("fit a concrete model; resolve 'auto' with choose_model first")
        need = min_history(name)
        if len(y) < need:
            raise ForecastError(f"model {name} needs at least {need} hours of history, got {len(y)}")
        self.name = name
        parts = ENSEMBLE_MEMBERS if name == "ensemble" else (name,)
        self._models = [_factory(part, len(y))() for part in parts]
        for m in self._models:
            m.fit(np.asarray(y, dtype=np.float64))

    def predict(self, h: int) -> Forecast:
        """The `h` hours after the fitted history."""
        return _combine(self.name, [_wrap(self.name, m.predict(h=h, level=list(LEVELS))) for m in self._models])

    def forward(self, y: FloatArray, h: int) -> Forecast:
        """The `h` hours after `y` (the fitted history extended), without re-estimating parameters."""
        y = np.asarray(y, dtype=np.float64)
        return _combine(self.name, [_wrap(self.name, m.forward(y=y, h=h, level=list(LEVELS))) for m in self._models])


def _combine(name: str, parts: list[Forecast]) -> Forecast:
    """One forecast, or the equal-weight mean of the members' means and bounds (ensemble)."""
    if len(parts) == 1:
        return parts[0]
    return Forecast(
        name,
        np.mean([p.mean for p in parts], axis=0),
        {lv: np.mean([p.lo[lv] for p in parts], axis=0) for lv in LEVELS},
        {lv: np.mean([p.hi[lv] for p in parts], axis=0) for lv in LEVELS},
    )


def _wrap(name: str, out: dict[str, Any]) -> Forecast:
    def clip(a: Any) -> FloatArray:
        return np.maximum(np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0), 0.0)

    mean = clip(out["mean"])
    lo = {lv: np.minimum(clip(out[f"lo-{lv}"]), mean) for lv in LEVELS}
    hi = {lv: np.maximum(np.asarray(out[f"hi-{lv}"], dtype=np.float64), mean) for lv in LEVELS}
    # Nesting holds in exact arithmetic; enforce it against rounding in the libraries' quantiles.
    lo[80] = np.maximum(lo[80], lo[95])
    hi[80] = np.minimum(hi[80], hi[95])
    return Forecast(name, mean, lo, hi)


def rolling(fitted: Fitted, y: FloatArray, origins: list[int], h: int) -> list[Forecast]:
    """Forecasts of `h` hours from each origin t (history y[:t]), the fitted parameters kept."""
    return [fitted.forward(y[:t], h) for t in origins]


def choose_model(y: FloatArray, horizon: int = DAY, candidates: tuple[str, ...] = AUTO_CANDIDATES) -> tuple[str, dict[str, float]]:
    """The candidate with the lowest validation sMAPE on `y`'s last 20 %, and every candidate's score."""
    from cpnet.forecast.metrics import smape

    n_val = max(horizon, math.floor(len(y) * VALIDATION_FRACTION))
    n_fit = len(y) - n_val
    if n_fit < 2 * DAY:
        return candidates[0], {}  # too short to validate: take the first (the most general) model
    origins = list(range(n_fit, len(y) - horizon + 1, horizon))
    scores: dict[str, float] = {}
    for name in candidates:
        try:
            fitted = Fitted(name, y[:n_fit])
            fc = rolling(fitted, y, origins, horizon)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            continue  # a model that cannot fit this series is not a candidate for it
        truth = np.concatenate([y[t : t + horizon] for t in origins])
        scores[name] = smape(truth, np.concatenate([f.mean for f in fc]))
    if not scores:
        raise ForecastError("no model could be fitted to the series")
    return min(scores, key=lambda k: (scores[k], candidates.index(k))), scores


def forecast(y: FloatArray, h: int, model: str = "auto") -> Forecast:
    """Fit `model` ('auto': chosen on a validation split) on all of `y` and forecast `h` hours."""
    if model == "auto":
        model, _ = choose_model(y)
    return Fitted(model, y).predict(h)
