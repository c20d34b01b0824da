"""Evaluation plots (matplotlib figures, logged to MLflow and shown in notebooks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@cache
def _pyplot() -> ModuleType:
    """pyplot on the Agg backend, imported on the first plot: the model modules import this
    one, and processes that only load models (the API) need no matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roc_plot(y: np.ndarray, scores: Mapping[str, np.ndarray], title: str) -> Figure:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def calibration_plot(y: np.ndarray, probs: Mapping[str, np.ndarray], title: str) -> Figure:
    """Observed rate per predicted-probability decile, zoomed to the range the predictions
    and outcomes use (purchase probabilities rarely pass 0.3: on a 0-1 square every curve
    would sit in one corner)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    top = 0.0
    for name, p in probs.items():
        frac, mean = calibration_curve(y, np.clip(p, 0, 1), n_bins=10, strategy="quantile")
        ax.plot(mean, frac, "o-", label=name)
        top = max(top, float(mean.max(initial=0.0)), float(frac.max(initial=0.0)))
    top = min(1.0, top * 1.1) if top > 0 else 1.0
    ax.plot([0, top], [0, top], "k:", lw=0.8)
    ax.set(xlabel="predicted probability", ylabel="observed rate", title=title,
           xlim=(0, top), ylim=(0, top))
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def lift_plot(y: np.ndarray, scores: Mapping[str, np.ndarray], title: str) -> Figure:
    """Cumulative share of positives captured when targeting the top x% by score."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    share = np.arange(1, len(y) + 1) / len(y)
    for name, p in scores.items():
        captured = np.cumsum(np.asarray(y)[np.argsort(-np.asarray(p))]) / max(np.sum(y), 1)
        ax.plot(share, captured, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="random")
    ax.set(xlabel="share of customers targeted", ylabel="share of positives captured",
           title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def importance_plot(names: Sequence[str], gains: np.ndarray, title: str, top: int = 20) -> Figure:
    plt = _pyplot()
    order = np.argsort(gains)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(order) + 1))
    ax.barh([names[i] for i in order], np.asarray(gains)[order])
    ax.set(xlabel="total gain", title=title)
    fig.tight_layout()
    return fig


def hour_heatmap(actual: np.ndarray, predicted: np.ndarray, title: str) -> Figure:
    """Counts of (predicted best hour, actual hour), UTC."""
    m = np.zeros((24, 24))
    np.add.at(m, (np.asarray(actual, int), np.asarray(predicted, int)), 1)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(m, origin="lower", cmap="viridis")
    ax.set(xlabel="predicted hour (UTC)", ylabel="actual hour (UTC)", title=title)
    fig.colorbar(im, ax=ax, label="snapshots")
    fig.tight_layout()
    return fig


def bar_plot(values: Mapping[str, float], title: str, ylabel: str) -> Figure:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(list(values), list(values.values()))
    ax.set(title=title, ylabel=ylabel)
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    return fig
