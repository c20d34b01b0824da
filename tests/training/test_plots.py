"""Evaluation plots: drawn where the predictions are."""

from __future__ import annotations

import numpy as np


def test_calibration_plot_zooms_to_the_range_the_predictions_use() -> None:
    from training.plots import calibration_plot

    rng = np.random.default_rng(0)
    p = rng.beta(1, 20, 5000)  # purchase-like probabilities: almost all below 0.2
    y = (rng.random(5000) < p).astype(int)
    ax = calibration_plot(y, {"model": p}, "intent").axes[0]
    lo, hi = ax.get_xlim()
    assert lo == 0 and 0.1 < hi < 0.3 and ax.get_ylim() == (lo, hi)
    curve = ax.lines[0]
    assert curve.get_xdata().max() <= hi and curve.get_ydata().max() <= hi  # nothing cut off
    wide = rng.uniform(0, 1, 5000)
    ax = calibration_plot((rng.random(5000) < wide).astype(int), {"m": wide}, "t").axes[0]
    assert ax.get_xlim()[1] == 1.0  # a full-range model keeps the full square
