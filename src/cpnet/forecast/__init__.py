"""Demand forecasts: hourly device-hour (and CU) series from traces, statsforecast models, backtests.

`build_series(demand_jobs(jobs), by)` -> hourly series (series.py); `forecast(y, h, model, intervals=)` -> point
forecast with 80 % / 95 % intervals, the models' own or split-conformal (model.py); `backtest(y, horizons)` -> sMAPE, MASE and
coverage on the last 20 % against seasonal-naive (backtest.py). `cpnet forecast` drives them.
"""

from cpnet.forecast.backtest import BacktestResult, HorizonResult, Scores, backtest
from cpnet.forecast.metrics import coverage, mase, naive_scale, smape
from cpnet.forecast.model import (
    INTERVALS,
    LEVELS,
    MODEL_NAMES,
    Conformal,
    Fitted,
    Forecast,
    ForecastError,
    choose_model,
    choose_wide,
    forecast,
    model_name_ok,
    parse_horizon,
)
from cpnet.forecast.series import DemandJob, DemandSeries, GroupBy, SeriesError, SeriesSet, Unit, build_series, demand_jobs, hourly_load, workload_class

__all__ = [
    "INTERVALS",
    "LEVELS",
    "MODEL_NAMES",
    "BacktestResult",
    "Conformal",
    "DemandJob",
    "DemandSeries",
    "Fitted",
    "Forecast",
    "ForecastError",
    "GroupBy",
    "HorizonResult",
    "Scores",
    "SeriesError",
    "SeriesSet",
    "Unit",
    "backtest",
    "build_series",
    "choose_model",
    "choose_wide",
    "coverage",
    "demand_jobs",
    "forecast",
    "hourly_load",
    "mase",
    "model_name_ok",
    "naive_scale",
    "parse_horizon",
    "smape",
    "workload_class",
]
