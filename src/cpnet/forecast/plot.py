"""The forecast plot: recent history, point forecast and 80 %/95 % bands, one panel per series."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cpnet.forecast.model import WEEK, Forecast
from cpnet.forecast.series import DemandSeries


def plot_forecasts(path: Path, items: Sequence[tuple[DemandSeries, Forecast]], title: str) -> None:
    """Write a PNG: for each series the last max(1 week, 3 horizons) of history, then the forecast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(1, len(items))
    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.8 * rows), squeeze=False)
    for ax, (s, f) in zip(axes[:, 0], items, strict=False):
        h = len(f.mean)
        keep = min(len(s), max(WEEK, 3 * h))
        hist_x = s.start_h + np.arange(len(s) - keep, len(s))
        fc_x = s.start_h + len(s) + np.arange(h)
        ax.plot(hist_x, s.values[-keep:], color="black", linewidth=0.9, label="history")
        ax.fill_between(fc_x, f.lo[95], f.hi[95], color="tab:blue", alpha=0.18, linewidth=0, label="95 % interval")
        ax.fill_between(fc_x, f.lo[80], f.hi[80], color="tab:blue", alpha=0.35, linewidth=0, label="80 % interval")
        ax.plot(fc_x, f.mean, color="tab:blue", linewidth=1.2, label=f"forecast ({f.model})")
        ax.set_title(f"{s.key} ({s.unit.value})", fontsize=10)
        ax.set_ylabel(s.unit.value)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("hours since the trace's first arrival")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
