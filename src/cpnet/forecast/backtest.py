"""Backtest on held-out time: fit on the first 80 % of a series, forecast its last 20 %.

Method. The model (and, for `auto`, its choice, made on the training part's own last 20 %) is
fitted once on the first 80 %. From origins t = n_train, n_train + step, ... (while t + h <= n)
it forecasts h hours from y[:t], its parameters kept (statsforecast `forward`: the state is
filtered through the newer observations, nothing is re-estimated). step = h, widened to keep at
most MAX_ORIGINS windows (it matters for h = 1 h only: the windows then sample the test span
evenly). The seasonal-naive baselines (24 h, and 168 h when the training part has two weeks)
run on the same windows, with their own intervals.

Scores over all forecast hours of all windows: sMAPE (%), MASE (MAE over the training part's
in-sample 24 h seasonal-naive MAE) and the share of hours inside the 80 % and 95 % intervals.
A horizon longer than the held-out part is reported as "series too short", with no numbers.

intervals="conformal": the model's intervals are replaced by split-conformal ones calibrated on the
training part's own validation split (cpnet.forecast.model.Conformal), once, for the longest
horizon scored; the test part is never looked at. intervals="auto" picks, per series, the model's
own or the conformal ones on that validation split (Conformal, choose=True). The baselines keep
their own intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cpnet.forecast.metrics import FloatArray, coverage, mase, naive_scale, smape
from cpnet.forecast.model import DAY, INTERVALS, WEEK, Conformal, Fitted, Forecast, ForecastError, resolve, rolling

TEST_FRACTION = 0.2
MAX_ORIGINS = 48
TOO_SHORT = "series too short"


@dataclass(frozen=True, slots=True)
class Scores:
    smape: float
    mase: float
    cover80: float
    cover95: float

    def as_dict(self) -> dict[str, float | None]:
        return {k: (None if math.isnan(v) else round(v, 4)) for k, v in zip(("smape", "mase", "cover80", "cover95"), self._values(), strict=True)}

    def _values(self) -> tuple[float, float, float, float]:
        return (self.smape, self.mase, self.cover80, self.cover95)


@dataclass(frozen=True, slots=True)
class HorizonResult:
    horizon_h: int
    status: str  # "ok" or TOO_SHORT
    windows: int
    step_h: int
    model: Scores | None
    baselines: dict[str, Scores]  # "snaive24", "snaive168" -> scores on the same windows

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"horizon_h": self.horizon_h, "status": self.status}
        if self.status == "ok" and self.model is not None:
            out |= {"windows": self.windows, "step_h": self.step_h, "model": self.model.as_dict()}
            out["baselines"] = {k: v.as_dict() for k, v in self.baselines.items()}
        return out


@dataclass(frozen=True, slots=True)
class BacktestResult:
    model: str
    n: int
    n_train: int
    validation: dict[str, float]  # auto's validation sMAPE per candidate (empty when not auto)
    horizons: tuple[HorizonResult, ...]
    intervals: str = "model"

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "intervals": self.intervals,
            "hours": self.n,
            "train_hours": self.n_train,
            "validation_smape": {k: round(v, 3) for k, v in self.validation.items()},
            "horizons": [h.as_dict() for h in self.horizons],
        }


def _scores(y: FloatArray, fc: list[Forecast], origins: list[int], h: int, scale: float) -> Scores:
    truth = np.concatenate([y[t : t + h] for t in origins])

    def cat(parts: list[FloatArray]) -> FloatArray:
        return np.concatenate(parts)

    mean = cat([f.mean for f in fc])
    return Scores(
        smape(truth, mean),
        mase(truth, mean, scale),
        coverage(truth, cat([f.lo[80] for f in fc]), cat([f.hi[80] for f in fc])),
        coverage(truth, cat([f.lo[95] for f in fc]), cat([f.hi[95] for f in fc])),
    )


def backtest(y: FloatArray, horizons: Sequence[int], model: str = "auto", *, intervals: str = "model") -> BacktestResult:
    """Scores of `model` and the seasonal-naive baselines on the last 20 % of `y`, per horizon."""
    if intervals not in INTERVALS:
        raise ForecastError(f"intervals {intervals!r}: expected one of {', '.join(INTERVALS)}")
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    n_train = math.floor(n * (1.0 - TEST_FRACTION))
    if n_train < 2 * DAY:
        raise ForecastError(f"a backtest needs at least {math.ceil(2 * DAY / (1 - TEST_FRACTION))} hours of history, got {n}")
    train = y[:n_train]
    model, validation = resolve(train, model, intervals)
    fitted = Fitted(model, train)
    scored = [h for h in horizons if n - n_train >= h]
    conformal = Conformal(model, train, max(scored), choose=intervals == "auto") if intervals != "model" and scored else None
    baselines = {"snaive24": Fitted("snaive24", train)}
    if n_train >= 2 * WEEK:
        baselines["snaive168"] = Fitted("snaive168", train)
    scale = naive_scale(train, DAY)
    results = []
    for h in horizons:
        if n - n_train < h:
            results.append(HorizonResult(h, TOO_SHORT, 0, 0, None, {}))
            continue
        span = n - n_train - h + 1  # origins available
        step = max(h, math.ceil(span / MAX_ORIGINS))
        origins = list(range(n_train, n - h + 1, step))
        fcs = rolling(fitted, y, origins, h)
        if conformal is not None:
            fcs = [conformal.apply(f) for f in fcs]
        scores = _scores(y, fcs, origins, h, scale)
        base = {k: _scores(y, rolling(b, y, origins, h), origins, h, scale) for k, b in baselines.items()}
        results.append(HorizonResult(h, "ok", len(origins), step, scores, base))
    used = intervals if conformal is None or intervals != "auto" else f"auto:{conformal.kind}"
    return BacktestResult(model, n, n_train, validation, tuple(results), used)
