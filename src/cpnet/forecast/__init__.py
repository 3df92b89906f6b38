"""Demand forecasts: hourly device-hour (and CU) series from traces, statsforecast models, backtests.

`build_series(demand_jobs(jobs), by)` -> hourly series (series.py); `forecast(y, h)` -> point
forecast with 80 % / 95 % intervals (model.py); `backtest(y, horizons)` -> sMAPE, MASE and
coverage on the last 20 % against seasonal-naive (backtest.py). `cpnet forecast` drives them.
"""

from cpnet.forecast.backtest import BacktestResult, HorizonResult, Scores, backtest
from cpnet.forecast.metrics import coverage, mase, naive_scale, smape
from cpnet.forecast.model import LEVELS, MODEL_NAMES, Fitted, Forecast, ForecastError, choose_model, forecast, parse_horizon
from cpnet.forecast.series import DemandJob, DemandSeries, GroupBy, SeriesError, SeriesSet, Unit, build_series, demand_jobs, hourly_load, workload_class

__all__ = [
    "LEVELS",
    "MODEL_NAMES",
    "BacktestResult",
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
    "coverage",
    "demand_jobs",
    "forecast",
    "hourly_load",
    "mase",
    "naive_scale",
    "parse_horizon",
    "smape",
    "workload_class",
]
