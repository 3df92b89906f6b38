"""Forecast accuracy: sMAPE, MASE and interval coverage, over matching arrays of truth and forecast."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def smape(y: FloatArray, f: FloatArray) -> float:
    """Mean of 2|y - f| / (|y| + |f|), in percent (0..200); a point where both are 0 counts as 0 error."""
    y, f = np.asarray(y, dtype=np.float64), np.asarray(f, dtype=np.float64)
    den = np.abs(y) + np.abs(f)
    err = np.divide(2.0 * np.abs(y - f), den, out=np.zeros_like(den), where=den > 0)
    return float(100.0 * err.mean())


def naive_scale(history: FloatArray, season: int) -> float:
    """In-sample MAE of the seasonal-naive forecast y_t = y_{t-season}: MASE's denominator."""
    h = np.asarray(history, dtype=np.float64)
    if len(h) <= season:
        return float("nan")
    return float(np.abs(h[season:] - h[:-season]).mean())


def mase(y: FloatArray, f: FloatArray, scale: float) -> float:
    """Mean absolute error divided by `scale` (naive_scale of the training history); nan if scale is 0."""
    if not scale > 0:
        return float("nan")
    return float(np.abs(np.asarray(y, dtype=np.float64) - np.asarray(f, dtype=np.float64)).mean() / scale)


def coverage(y: FloatArray, lo: FloatArray, hi: FloatArray) -> float:
    """Share (0..1) of points with lo <= y <= hi."""
    y = np.asarray(y, dtype=np.float64)
    return float(((y >= lo) & (y <= hi)).mean())
