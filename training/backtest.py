"""Backtest at a cutoff: learn from what happened up to the cutoff, score every customer at the
cutoff, and compare with what happened after it, next to every baseline.

The model never sees an event after the cutoff: its features come from a feature store built on
the log truncated at the cutoff, and its training labels close before it. Only the evaluation
labels come from the full log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import schema as s
from features.sources.dataset import Dataset
from training.baselines import columns
from training.binary import BinaryModel, BinaryTask, evaluation_figures, fit_on_frame
from training.datasets import service_features, training_frame
from training.horizons import WARMUP, WEEK, HorizonError, default_every, describe
from training.labels import snapshot_times
from training.metrics import binary_metrics, paired_auc_difference
from training.ope import Estimate

MIN_FIT_SNAPSHOTS = 4


def truncate(ds: Dataset, cutoff: pd.Timestamp) -> Dataset:
    """The dataset as it was at `cutoff`: events at or before it, customers and products seen
    by then (manifest start/end reset to the truncated log)."""
    events = ds.events[ds.events[s.EVENT_TS] <= cutoff].reset_index(drop=True)
    seen = set(events[s.CUSTOMER_ID])
    signup = pd.to_datetime(ds.customers[s.SIGNUP_TS], utc=True)
    customers = ds.customers[ds.customers[s.CUSTOMER_ID].isin(seen)
                             | (signup <= cutoff)].reset_index(drop=True)
    products = ds.products[ds.products[s.PRODUCT_ID].isin(set(events[s.PRODUCT_ID].dropna()))
                           | ~ds.products[s.PRODUCT_ID].isin(set(ds.events[s.PRODUCT_ID]))]
    manifest = {k: v for k, v in ds.manifest.items() if k not in ("start", "end", "events")}
    manifest.update({"source": f"{ds.manifest.get('source', '?')} (up to {cutoff})",
                     "backtest_cutoff": str(cutoff)})
    return Dataset(events, customers, products.reset_index(drop=True), manifest, None)


@dataclass(frozen=True)
class TrainingWindow:
    """The label horizon and snapshots training uses before the cutoff."""

    horizon: pd.Timedelta
    every: pd.Timedelta
    times: tuple[pd.Timestamp, ...]
    note: str = ""


def training_window(start: pd.Timestamp, cutoff: pd.Timestamp, horizon: pd.Timedelta,
                    every: pd.Timedelta | None = None) -> TrainingWindow:
    """Snapshots whose label windows close by the cutoff. When the requested horizon leaves
    fewer than `MIN_FIT_SNAPSHOTS`, history before the cutoff is split evenly between features
    and labels: the model learns a horizon of half the history after the warm-up (whole
    weeks, weekly snapshots), so its training customers have histories like the ones it scores,
    and its score ranks customers for the longer horizon. The report says so."""
    spacing = every or default_every(horizon)
    times = snapshot_times(start, cutoff, horizon, spacing)
    if len(times) >= MIN_FIT_SNAPSHOTS:
        return TrainingWindow(horizon, spacing, tuple(times))
    spacing = every or WEEK
    shorter = WEEK * math.floor(((cutoff - start) - WARMUP) / 2 / WEEK)
    times = snapshot_times(start, cutoff, shorter, spacing) if shorter >= WEEK else []
    if len(times) < MIN_FIT_SNAPSHOTS:
        raise HorizonError(
            f"{(cutoff - start).days} days of data before the cutoff {cutoff:%Y-%m-%d} leave no "
            f"room for {MIN_FIT_SNAPSHOTS} training snapshots: choose a later cutoff")
    note = (f"{describe(horizon)} labels need {describe(horizon)} after each snapshot, more than "
            f"the {(cutoff - start).days} days before the cutoff allow for "
            f"{MIN_FIT_SNAPSHOTS} snapshots: the model learns {describe(shorter)} labels (half "
            f"the history after the warm-up) and ranks customers for {describe(horizon)}")
    return TrainingWindow(shorter, spacing, tuple(times), note)


@dataclass
class TaskBacktest:
    """One task's results at the cutoff."""

    name: str
    description: str
    rows: int
    positive_rate: float
    metrics: dict[str, dict[str, float]]  # scorer -> metric -> value
    best_baseline: str
    difference: Estimate  # AUC(model) - AUC(best baseline), DeLong interval
    figures: dict[str, object] = field(default_factory=dict)
    scores: pd.DataFrame | None = None  # customer, label, one column per scorer
    fit_rows: int = 0
    model: BinaryModel | None = None

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.metrics).T[["auc", "pr_auc", "lift_top10", "brier", "ece"]]


def backtest_task(task: BinaryTask, store, past: Dataset, full: Dataset, cutoff: pd.Timestamp,
                  horizon: pd.Timedelta, window: TrainingWindow) -> TaskBacktest:
    """Fit on the truncated log's snapshots, score at the cutoff, evaluate on the full log."""
    labels = task.labels(past, list(window.times), window.horizon)
    fit = training_frame(store, task.service, labels)
    at_cutoff = training_frame(store, task.service, task.labels(full, [cutoff], horizon))
    features = service_features(store, task.service)
    model, _, _ = fit_on_frame(task, fit, features, window.horizon, at_cutoff)
    if "bgnbd" in model.baselines:  # BG/NBD predicts for the horizon asked, not the trained one
        model.baselines["bgnbd"].horizon_days = horizon / pd.Timedelta(days=1)
    y = at_cutoff["label"].to_numpy()
    X = at_cutoff[model.feature_names].to_numpy(np.float64)
    scores = {"model": model.predict_model(X)}
    for name, b in model.baselines.items():
        scores[name] = b.predict_proba(columns(at_cutoff, b.inputs))
    metrics = {name: binary_metrics(y, p) for name, p in scores.items()}
    baselines = [n for n in scores if n != "model"]
    best = max(baselines, key=lambda n: metrics[n]["auc"])
    diff = paired_auc_difference(y, scores["model"], scores[best])
    title = f"backtest at {cutoff:%Y-%m-%d}, {describe(horizon)}"
    figures = evaluation_figures(task.name, y, {("model" if n == "model" else f"baseline: {n}"): p
                                                for n, p in scores.items()}, title)
    table = pd.DataFrame({s.CUSTOMER_ID: at_cutoff[s.CUSTOMER_ID], "label": y, **scores})
    return TaskBacktest(task.name, task.description, len(y), float(y.mean()), metrics, best, diff,
                        figures, table, len(fit), model)


def cutoff_population(full: Dataset, cutoff: pd.Timestamp) -> int:
    return int(full.events.loc[full.events[s.EVENT_TS] <= cutoff, s.CUSTOMER_ID].nunique())

