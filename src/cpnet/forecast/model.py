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
            past the history it is given. The faithful (first) version; unchanged.

Added (the `auto_wide` pool; each also usable by name):
  ets_damped       AutoETS, season 24 h, damped trend only.
  naive            last value (persistence), intervals from the model.
  ensemble_snaive  equal-weight mean of mstl, ets, theta and snaive24.
  crostonsba, adida, imapa, tsb
                   intermittent-demand models (CrostonSBA, ADIDA, IMAPA, TSB with alpha_d = alpha_p
                   = 0.1); flat forecasts, no intervals of their own: only with intervals="conformal".
  NAME+zero        zero-aware NAME: forecast 0 at lead k where, in the fitted history, an hour k
                   after an hour in the same state (zero / non-zero) as the last observed one was
                   zero more often than not; NAME's forecast elsewhere (its lower bounds set to 0
                   where masked).
  auto_wide        like auto over all of the above (and snaive24, snaive168; +zero variants when the
                   validation-fit part has at least 5 % zero hours), chosen on the same validation
                   sMAPE. It may pick seasonal naive itself.

Intervals: "model" (faithful: the models' own) or "conformal" (split conformal: the model is fitted
on the first 80 % of the history, forecasts the last 20 % from up to CAL_ORIGINS rolling origins,
and the bound at lead k is mean +- the finite-sample (n+1) quantile of |error| at leads within
k +- k // 4; fitted again on the whole history for the forecast itself).

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
BASE_MODELS = ("ensemble", "mstl", "ets", "theta", "snaive24", "snaive168")
EXTRA_MODELS = ("ets_damped", "naive", "ensemble_snaive", "crostonsba", "adida", "imapa", "tsb")
MODEL_NAMES = ("auto", "auto_wide", *BASE_MODELS, *EXTRA_MODELS)
ENSEMBLE_MEMBERS = ("mstl", "ets", "theta")
COMPOSITES = {"ensemble": ENSEMBLE_MEMBERS, "ensemble_snaive": (*ENSEMBLE_MEMBERS, "snaive24")}
AUTO_CANDIDATES = ("mstl", "ets", "theta", "ensemble")
INTERMITTENT = ("crostonsba", "adida", "imapa", "tsb")  # no intervals of their own
WIDE_CANDIDATES = ("mstl", "ets", "theta", "ensemble", "ets_damped", "ensemble_snaive", "snaive24", "snaive168", "naive", *INTERMITTENT)
ZERO_SUFFIX = "+zero"
ZERO_SHARE_FOR_MASK = 0.05  # auto_wide tries +zero variants only when the fit part has this many zero hours
INTERVALS = ("model", "conformal", "auto")
VALIDATION_FRACTION = 0.2
CAL_ORIGINS = 40  # rolling origins on the validation split for conformal intervals


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


def model_name_ok(name: str) -> bool:
    """A name `forecast` accepts: one of MODEL_NAMES, or a concrete one with `+zero`."""
    base = name.removesuffix(ZERO_SUFFIX)
    return name in MODEL_NAMES or (base != name and base in MODEL_NAMES and not base.startswith("auto"))


def has_model_intervals(name: str) -> bool:
    """Whether a concrete model gives intervals of its own (intermittent models do not)."""
    return name.removesuffix(ZERO_SUFFIX) not in INTERMITTENT


class _Intermittent:
    """A statsforecast intermittent model (no `forward`): re-run on each history, parameters are its rule."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make

    def fit(self, y: npt.NDArray[Any], X: npt.NDArray[Any] | None = None) -> Any:
        return self

    def predict(self, h: int, X: npt.NDArray[Any] | None = None, level: list[int] | None = None) -> Any:
        raise ForecastError("intermittent models forecast through forward")

    def forward(
        self,
        y: npt.NDArray[Any],
        h: int,
        X: npt.NDArray[Any] | None = None,
        X_future: npt.NDArray[Any] | None = None,
        level: list[int] | None = None,
        fitted: bool = False,
    ) -> Any:
        mean = np.asarray(self._make().forecast(y=y, h=h)["mean"], dtype=np.float64)
        return {"mean": mean} | {f"{b}-{lv}": mean for lv in LEVELS for b in ("lo", "hi")}


def _factory(name: str, n: int) -> Callable[[], _StatsModel]:
    from statsforecast.models import ADIDA, IMAPA, MSTL, TSB, AutoETS, AutoTheta, CrostonSBA, Naive, SeasonalNaive

    intermittent: dict[str, Callable[[], Any]] = {
        "crostonsba": CrostonSBA,
        "adida": ADIDA,
        "imapa": IMAPA,
        "tsb": lambda: TSB(alpha_d=0.1, alpha_p=0.1),
    }
    if name in intermittent:
        make = intermittent[name]
        return lambda: _Intermittent(make)
    if name == "ets_damped":
        return lambda: AutoETS(season_length=DAY, damped=True)
    if name == "naive":
        return lambda: Naive()

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
    base = name.removesuffix(ZERO_SUFFIX)
    return 2 * WEEK if base == "snaive168" else 2 * DAY


class ZeroMask:
    """P(hour t-1+k is zero | hour t-1 zero / non-zero) per lead k, estimated on a history."""

    __slots__ = ("_z", "_cache")

    def __init__(self, y: FloatArray) -> None:
        self._z = np.asarray(y) == 0
        self._cache: dict[int, npt.NDArray[np.bool_]] = {}

    def table(self, h: int) -> npt.NDArray[np.bool_]:
        """[state, lead-1] -> forecast zero? (state 1: the last observed hour is zero)."""
        if h not in self._cache:
            z, n = self._z, len(self._z)
            out = np.zeros((2, h), dtype=bool)
            for k in range(1, min(h, n - 1) + 1):
                prev, fut = z[: n - k], z[k:]
                for state in (0, 1):
                    sel = prev == bool(state)
                    out[state, k - 1] = bool(sel.sum() >= 5 and fut[sel].mean() > 0.5)
            if h > n - 1:
                out[:, n - 1 :] = out[:, n - 2 : n - 1]
            self._cache[h] = out
        return self._cache[h]

    def apply(self, fc: Forecast, last: float) -> Forecast:
        mask = self.table(len(fc.mean))[int(last == 0)]
        if not mask.any():
            return fc
        return Forecast(
            fc.model,
            np.where(mask, 0.0, fc.mean),
            {lv: np.where(mask, 0.0, fc.lo[lv]) for lv in LEVELS},
            dict(fc.hi),
        )


class Fitted:
    """A model fitted once on a history; forecasts from any later origin reuse its parameters."""

    __slots__ = ("name", "_models", "_mask", "_y")

    def __init__(self, name: str, y: FloatArray) -> None:
        if name.startswith("auto"):
            raise ForecastError(f"fit a concrete model; resolve {name!r} with choose_model first")
        if not model_name_ok(name):
            raise ForecastError(f"unknown model {name!r}; valid: {', '.join(MODEL_NAMES)} (and NAME{ZERO_SUFFIX})")
        need = min_history(name)
        if len(y) < need:
            raise ForecastError(f"model {name} needs at least {need} hours of history, got {len(y)}")
        self.name = name
        base = name.removesuffix(ZERO_SUFFIX)
        y = np.asarray(y, dtype=np.float64)
        self._mask = ZeroMask(y) if base != name else None
        parts = COMPOSITES.get(base, (base,))
        self._models = [_factory(part, len(y))() for part in parts]
        for m in self._models:
            m.fit(y)
        self._y = y

    def predict(self, h: int) -> Forecast:
        """The `h` hours after the fitted history."""
        if any(isinstance(m, _Intermittent) for m in self._models):
            return self.forward(self._y, h)
        fc = _combine(self.name, [_wrap(self.name, m.predict(h=h, level=list(LEVELS))) for m in self._models])
        return fc if self._mask is None else self._mask.apply(fc, float(self._y[-1]))

    def forward(self, y: FloatArray, h: int) -> Forecast:
        """The `h` hours after `y` (the fitted history extended), without re-estimating parameters."""
        y = np.asarray(y, dtype=np.float64)
        fc = _combine(self.name, [_wrap(self.name, m.forward(y=y, h=h, level=list(LEVELS))) for m in self._models])
        return fc if self._mask is None else self._mask.apply(fc, float(y[-1]))


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


def _validation_split(y: FloatArray, horizon: int) -> tuple[int, list[int]]:
    n_val = max(horizon, math.floor(len(y) * VALIDATION_FRACTION))
    n_fit = len(y) - n_val
    return n_fit, list(range(n_fit, len(y) - horizon + 1, horizon))


_FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError)


def choose_model(y: FloatArray, horizon: int = DAY, candidates: tuple[str, ...] = AUTO_CANDIDATES) -> tuple[str, dict[str, float]]:
    """The candidate with the lowest validation sMAPE on `y`'s last 20 %, and every candidate's score."""
    from cpnet.forecast.metrics import smape

    n_fit, origins = _validation_split(y, horizon)
    if n_fit < 2 * DAY:
        return candidates[0], {}  # too short to validate: take the first (the most general) model
    scores: dict[str, float] = {}
    for name in candidates:
        try:
            fitted = Fitted(name, y[:n_fit])
            fc = rolling(fitted, y, origins, horizon)
        except _FIT_ERRORS:
            continue  # a model that cannot fit this series is not a candidate for it
        truth = np.concatenate([y[t : t + horizon] for t in origins])
        scores[name] = smape(truth, np.concatenate([f.mean for f in fc]))
    if not scores:
        raise ForecastError("no model could be fitted to the series")
    return min(scores, key=lambda k: (scores[k], candidates.index(k))), scores


def choose_wide(y: FloatArray, horizon: int = DAY, intervals: str = "conformal") -> tuple[str, dict[str, float]]:
    """auto_wide: like choose_model over WIDE_CANDIDATES and their +zero variants, on the same split.

    Each single model is fitted and rolled once; composites average the members' validation
    forecasts and +zero variants mask them, as Fitted would. With intervals="model" the
    intermittent models (no intervals of their own) are left out.
    """
    from cpnet.forecast.metrics import smape

    n_fit, origins = _validation_split(y, horizon)
    pool = [c for c in WIDE_CANDIDATES if intervals != "model" or has_model_intervals(c)]
    if n_fit < 2 * DAY:
        return pool[0], {}
    fit_part = y[:n_fit]
    singles: dict[str, list[FloatArray]] = {}
    for name in dict.fromkeys(part for c in pool for part in COMPOSITES.get(c, (c,))):
        if len(fit_part) < min_history(name):
            continue
        try:
            singles[name] = [f.mean for f in rolling(Fitted(name, fit_part), y, origins, horizon)]
        except _FIT_ERRORS:
            continue
    means: dict[str, list[FloatArray]] = {}
    for c in pool:
        members = COMPOSITES.get(c, (c,))
        if all(m in singles for m in members):
            means[c] = [np.mean([singles[m][i] for m in members], axis=0) for i in range(len(origins))]
    if float((fit_part == 0).mean()) >= ZERO_SHARE_FOR_MASK:
        mask = ZeroMask(fit_part)
        for c in list(means):
            table = mask.table(horizon)
            means[c + ZERO_SUFFIX] = [np.where(table[int(y[t - 1] == 0)], 0.0, m) for t, m in zip(origins, means[c], strict=True)]
    if not means:
        raise ForecastError("no model could be fitted to the series")
    truth = np.concatenate([y[t : t + horizon] for t in origins])
    scores = {c: smape(truth, np.concatenate(m)) for c, m in means.items()}
    order = list(means)
    return min(scores, key=lambda k: (scores[k], order.index(k))), scores


def resolve(y: FloatArray, model: str, intervals: str = "model") -> tuple[str, dict[str, float]]:
    """A concrete model name for `model` on history `y` (auto, auto_wide: chosen on validation)."""
    if model == "auto":
        return choose_model(y)
    if model == "auto_wide":
        return choose_wide(y, intervals=intervals)
    if not model_name_ok(model):
        raise ForecastError(f"unknown model {model!r}; valid: {', '.join(MODEL_NAMES)} (and NAME{ZERO_SUFFIX})")
    if intervals == "model" and not has_model_intervals(model):
        raise ForecastError(f"model {model} has no intervals of its own; use intervals='conformal'")
    return model, {}


def _conformal_rank(n: int, level: int) -> int:
    """0-based index into n sorted |errors| of the split-conformal quantile ceil((n + 1) level) / n."""
    return min(n, math.ceil((n + 1) * level / 100.0)) - 1


class Conformal:
    """Split-conformal interval half-widths per lead, from a model's errors on a validation split.

    The model is fitted on the first 80 % of `y`, forecasts from up to CAL_ORIGINS origins spread
    over the last 20 % (`horizon` hours each, as many as fit), and the half-width at lead k is the
    (n + 1)-corrected quantile of |error| over leads k - k // 4 .. k + k // 4. Leads past the
    validation span reuse the last one's width.
    """

    __slots__ = ("width", "use_model", "check")

    def __init__(self, name: str, y: FloatArray, horizon: int, *, choose: bool = False) -> None:
        y = np.asarray(y, dtype=np.float64)
        n_val = max(1, math.floor(len(y) * VALIDATION_FRACTION))
        n_fit = len(y) - n_val
        if n_fit < min_history(name):
            raise ForecastError(f"conformal intervals need at least {math.ceil(min_history(name) / (1 - VALIDATION_FRACTION))} hours of history")
        lead = max(1, min(horizon, n_val))
        span = n_val - lead + 1
        step = max(1, math.ceil(span / CAL_ORIGINS))
        origins = list(range(n_fit, n_fit + span, step))
        fitted = Fitted(name, y[:n_fit])
        fcs = rolling(fitted, y, origins, lead)
        truth = np.array([y[t : t + lead] for t in origins])
        err = np.abs(truth - np.array([f.mean for f in fcs]))
        self.width = _widths(err)
        self.use_model = False
        self.check: dict[str, float] = {}
        if choose and has_model_intervals(name) and len(origins) >= 4:
            # "auto": widths from the first half of the origins, 95 % coverage of both kinds on the
            # second half; the model's own intervals are kept when they come closer to 95 %.
            half = len(origins) // 2
            first = _widths(err[:half])
            late = truth[half:]
            mean = np.array([f.mean for f in fcs[half:]])
            conf = float(((late >= mean - first[95]) & (late <= mean + first[95])).mean())
            lo = np.array([f.lo[95] for f in fcs[half:]])
            hi = np.array([f.hi[95] for f in fcs[half:]])
            own = float(((late >= lo) & (late <= hi)).mean())
            self.check = {"conformal_cover95": conf, "model_cover95": own}
            self.use_model = abs(own - 0.95) < abs(conf - 0.95)

    @property
    def kind(self) -> str:
        return "model" if self.use_model else "conformal"

    def apply(self, fc: Forecast) -> Forecast:
        if self.use_model:
            return fc
        h = len(fc.mean)

        def at(lv: int) -> FloatArray:
            w = self.width[lv]
            return w[:h] if h <= len(w) else np.concatenate([w, np.full(h - len(w), w[-1])])

        lo = {lv: np.minimum(np.maximum(fc.mean - at(lv), 0.0), fc.mean) for lv in LEVELS}
        hi = {lv: fc.mean + at(lv) for lv in LEVELS}
        lo[80] = np.maximum(lo[80], lo[95])
        return Forecast(fc.model, fc.mean, lo, hi)


def _widths(err: FloatArray) -> dict[int, FloatArray]:
    """Conformal half-widths per lead from |errors| [origin, lead], leads pooled over k +- k // 4."""
    lead = err.shape[1]
    width: dict[int, FloatArray] = {}
    for lv in LEVELS:
        w = np.empty(lead)
        for k in range(1, lead + 1):
            pool = np.sort(err[:, max(0, k - 1 - k // 4) : min(lead, k + k // 4)].ravel())
            w[k - 1] = pool[_conformal_rank(len(pool), lv)]
        width[lv] = w
    width[80] = np.minimum(width[80], width[95])
    return width


def forecast(y: FloatArray, h: int, model: str = "auto", *, intervals: str = "model") -> Forecast:
    """Fit `model` ('auto', 'auto_wide': chosen on a validation split) on all of `y` and forecast `h` hours.

    intervals: "model" (the models' own, the faithful default), "conformal" (see Conformal) or
    "auto" (whichever of the two came closer to 95 % on the validation split's later half).
    """
    if intervals not in INTERVALS:
        raise ForecastError(f"intervals {intervals!r}: expected one of {', '.join(INTERVALS)}")
    y = np.asarray(y, dtype=np.float64)
    model, _ = resolve(y, model, intervals)
    fc = Fitted(model, y).predict(h)
    if intervals != "model":
        fc = Conformal(model, y, h, choose=intervals == "auto").apply(fc)
    return fc
