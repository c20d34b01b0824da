"""Binary propensity models (purchase intent, churn risk): LightGBM, calibrated, vs a baseline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from features.dataset import Dataset
from features.transforms import ENTITY_TS
from training import plots
from training.datasets import service_features, training_frame
from training.labels import snapshot_times
from training.metrics import binary_metrics
from training.result import TrainResult
from training.splits import apply_split, split_by_time

LGB_PARAMS = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 100,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "metric": "auc", "verbose": -1, "num_threads": 2, "seed": 7, "deterministic": True,
}
MAX_ROUNDS = 1000
EARLY_STOP = 50


@dataclass
class BinaryModel:
    """LightGBM scores mapped to probabilities by isotonic calibration (fit on validation)."""

    feature_names: list[str]
    booster: lgb.Booster
    calib_x: np.ndarray
    calib_y: np.ndarray

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(np.asarray(X, dtype=np.float64), num_threads=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability; `X` columns in `feature_names` order (NaN = missing)."""
        return np.interp(self.predict_raw(X), self.calib_x, self.calib_y)

    def predict_frame(self, df: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(df[self.feature_names].to_numpy(dtype=np.float64))


@dataclass
class LogisticBaseline:
    """A simple baseline: logistic regression on a few transformed columns."""

    name: str
    transform: Callable[[pd.DataFrame], np.ndarray]
    model: LogisticRegression = field(default_factory=lambda: LogisticRegression(max_iter=1000))

    def fit(self, df: pd.DataFrame, y: np.ndarray) -> LogisticBaseline:
        self.model.fit(self.transform(df), y)
        return self

    def predict_frame(self, df: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(self.transform(df))[:, 1]


@dataclass(frozen=True)
class BinaryTask:
    name: str
    service: str
    horizon: pd.Timedelta
    labels: Callable[[Dataset, list[pd.Timestamp]], pd.DataFrame]
    baseline: Callable[[], LogisticBaseline]
    description: str
    # Simulated data: agreement of test predictions with the latent truth (metric -> value).
    truth: Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], dict[str, float]] | None = None


def fit_binary(train: pd.DataFrame, val: pd.DataFrame, features: list[str],
               label: str = "label") -> tuple[BinaryModel, dict[str, float]]:
    """LightGBM with early stopping on validation AUC, then isotonic calibration on validation."""
    dtrain = lgb.Dataset(train[features].to_numpy(float), train[label].to_numpy(),
                         feature_name=features, free_raw_data=False)
    dval = lgb.Dataset(val[features].to_numpy(float), val[label].to_numpy(), reference=dtrain)
    booster = lgb.train(LGB_PARAMS, dtrain, num_boost_round=MAX_ROUNDS, valid_sets=[dval],
                        callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)])
    raw_val = booster.predict(val[features].to_numpy(float))
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(raw_val, val[label].to_numpy())
    model = BinaryModel(features, booster, np.asarray(iso.X_thresholds_),
                        np.asarray(iso.y_thresholds_))
    return model, {"best_iteration": float(booster.best_iteration)}


def train_binary_task(task: BinaryTask, store, ds: Dataset) -> TrainResult:
    """Labels -> Feast training frame -> time split -> LightGBM + baseline -> test metrics."""
    times = snapshot_times(ds.start, ds.end, task.horizon)
    labels = task.labels(ds, times)
    split = split_by_time(times, task.horizon, labels[ENTITY_TS].value_counts().to_dict())
    labels = labels[labels[ENTITY_TS].isin([*split.train, *split.val, *split.test])]
    frame = training_frame(store, task.service, labels)
    features = service_features(store, task.service)
    parts = apply_split(frame, split)
    model, fit_info = fit_binary(parts["train"], parts["val"], features)
    baseline = task.baseline().fit(parts["train"], parts["train"]["label"].to_numpy())

    metrics: dict[str, float] = {}
    for part in ("val", "test"):
        df = parts[part]
        y = df["label"].to_numpy()
        for k, v in binary_metrics(y, model.predict_frame(df)).items():
            metrics[f"{part}_{k}"] = v
        for k, v in binary_metrics(y, baseline.predict_frame(df)).items():
            if k != "positive_rate":
                metrics[f"{part}_baseline_{baseline.name}_{k}"] = v
    test = parts["test"]
    y = test["label"].to_numpy()
    p_model, p_base = model.predict_frame(test), baseline.predict_frame(test)
    if task.truth is not None and ds.truth is not None:
        metrics.update(task.truth(test, p_model, ds.truth))
    scores = {"LightGBM (calibrated)": p_model, f"baseline: {baseline.name}": p_base}
    figures = {
        f"{task.name}_roc.png": plots.roc_plot(y, scores, f"{task.name}: ROC, test period"),
        f"{task.name}_calibration.png": plots.calibration_plot(
            y, scores, f"{task.name}: calibration, test period"),
        f"{task.name}_lift.png": plots.lift_plot(y, scores, f"{task.name}: lift, test period"),
        f"{task.name}_importance.png": plots.importance_plot(
            features, model.booster.feature_importance("gain"), f"{task.name}: importance"),
    }
    dataset = {
        "rows": len(frame), **{f"{k}_rows": len(v) for k, v in parts.items()},
        **{f"{k}_label_rate": float(v["label"].mean()) for k, v in parts.items()},
        **split.describe(), "horizon_days": task.horizon.days, "feature_service": task.service,
        "features": len(features), "label": task.description,
    }
    return TrainResult(
        name=task.name, model=model, primary_metric="test_auc", metrics=metrics,
        params={**{k: v for k, v in LGB_PARAMS.items() if k != "verbose"}, **fit_info,
                "calibration": "isotonic on validation", "baseline": baseline.name},
        figures=figures, dataset=dataset,
        eval_frame=test[["customer_id", "event_timestamp", "label", *features]],
        input_example=test[features].head(5),
    )


def log_days(hours: pd.Series, cap_days: float = 365.0) -> np.ndarray:
    """log1p of days since something (hours input); never -> the cap."""
    return np.log1p(np.minimum(hours.fillna(cap_days * 24) / 24.0, cap_days)).to_numpy()
