"""sMAPE, MASE and coverage, checked by hand on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cpnet.forecast import coverage, mase, naive_scale, smape


def test_smape_by_hand() -> None:
    # |1-1| -> 0; 2|2-4|/(2+4) = 2/3; mean = 1/3 -> 33.33 %
    assert smape(np.array([1.0, 2.0]), np.array([1.0, 4.0])) == pytest.approx(100 / 3)
    # both zero counts as no error; y=0, f=5 is the maximum, 200 %
    assert smape(np.array([0.0, 0.0]), np.array([0.0, 5.0])) == pytest.approx(100.0)


def test_mase_by_hand() -> None:
    # in-sample seasonal-naive (season 1) errors |2-1|, |4-2|, |7-4| -> MAE 2
    scale = naive_scale(np.array([1.0, 2.0, 4.0, 7.0]), season=1)
    assert scale == pytest.approx(2.0)
    # forecast errors 1 and 0 -> MAE 0.5 -> MASE 0.25
    assert mase(np.array([3.0, 5.0]), np.array([2.0, 5.0]), scale) == pytest.approx(0.25)
    # season 2: |4-1|, |7-2| -> 4
    assert naive_scale(np.array([1.0, 2.0, 4.0, 7.0]), season=2) == pytest.approx(4.0)
    assert math.isnan(mase(np.array([1.0]), np.array([1.0]), 0.0))
    assert math.isnan(naive_scale(np.array([1.0, 2.0]), season=24))


def test_coverage_by_hand() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert coverage(y, np.array([0.0, 2.0, 3.5, 0.0]), np.array([2.0, 2.0, 4.0, 3.0])) == pytest.approx(0.5)
