"""Binary propensity models (purchase intent, churn risk) and the honest gate.

The model: LightGBM and an L2 logistic regression on log-scaled features, blended on the logit
scale, then isotonic calibration. Both read the feature service plus the customer-base features
of a BG/NBD fit that travels with the model. Validation rows are customers held out from
training (so early stopping cannot reward memorizing a customer), and pick the number of trees,
the regularization, the blend weight and the calibration.

The gate: the model is compared on the test period with the standard baselines
(training/baselines.py). When it does not beat the best of them, the registered bundle scores
with that baseline instead (`scorer`), and the report says so: a losing model never ships.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from features import schema as s
from features.sources.dataset import Dataset
from features.transforms import ENTITY_TS
from training import lgbm_predict, plots
from training.baselines import (
    BGNBD_FEATURES,
    Baseline,
    Calibration,
    bgnbd_features,
    bgnbd_summary,
    columns,
    customer_base_baselines,
)
from training.customer_base import BGNBD, FitError, fit_bgnbd
from training.datasets import service_features, training_frame
from training.labels import SnapshotPlan
from training.metrics import binary_metrics, paired_auc_difference
from training.result import TrainResult
from training.serving_cache import ServingCache
from training.splits import FitSplit, customer_folds, holdout_customers, split_for_fit

LGB_PARAMS = {
    "objective": "binary", "learning_rate": 0.03, "num_leaves": 15, "min_data_in_leaf": 200,
    "feature_fraction": 0.5, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 10.0,
    "metric": "auc", "verbose": -1, "num_threads": 2, "seed": 7, "deterministic": True,
}
MAX_ROUNDS = 2000
EARLY_STOP = 100
LINEAR_C = (0.01, 0.1, 1.0)  # inverse L2 strengths tried on the first fold
LINEAR_MAX_ROWS = 100_000  # each fold's logistic part is fitted on a sample beyond this
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # weight of the logistic part
MAX_FIT_ROWS = 200_000  # labelled fit rows beyond this: a stable sample of rows
FOLDS, FOLDS_BIG, BIG_FIT_ROWS = 5, 3, 100_000  # cross-fitting folds (fewer on big data)
MODEL = "model"
CUSTOMER_BASE_INPUTS = ("purchase_days_total", "days_since_first_purchase",
                        "hours_since_last_purchase")


def signed_log(X: np.ndarray) -> np.ndarray:
    return np.sign(X) * np.log1p(np.abs(X))


@dataclass
class LinearPart:
    """L2 logistic regression on standardized signed-log features, NaN filled with the
    training median plus a missing-value indicator per column that had NaNs."""

    keep: np.ndarray
    fill: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    missing: np.ndarray  # indices (into kept columns) with an indicator
    coef: np.ndarray
    intercept: float
    C: float

    @staticmethod
    def prepare(X: np.ndarray) -> LinearPart:
        import warnings

        Z = signed_log(X)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: filled with 0
            fill = np.nan_to_num(np.nanmedian(Z, axis=0))
        filled = np.where(np.isnan(Z), fill, Z)
        std = filled.std(axis=0)
        keep = np.flatnonzero((std > 1e-12) | np.isnan(Z).any(axis=0))
        missing = np.flatnonzero(np.isnan(Z[:, keep]).any(axis=0))
        std_k = np.where(std[keep] > 1e-12, std[keep], 1.0)
        return LinearPart(keep, fill[keep], filled[:, keep].mean(axis=0), std_k, missing,
                          np.zeros(len(keep) + len(missing)), 0.0, 0.0)

    def design(self, X: np.ndarray) -> np.ndarray:
        Z = signed_log(np.asarray(X, dtype=np.float64)[:, self.keep])
        nan = np.isnan(Z)
        Z = (np.where(nan, self.fill, Z) - self.mean) / self.std
        return np.hstack([Z, nan[:, self.missing].astype(np.float64)])

    def fit(self, X: np.ndarray, y: np.ndarray, C: float) -> LinearPart:
        lr = LogisticRegression(C=C, max_iter=2000).fit(self.design(X), y)
        self.coef, self.intercept, self.C = lr.coef_[0], float(lr.intercept_[0]), C
        return self

    def logit(self, X: np.ndarray) -> np.ndarray:
        return self.design(X) @ self.coef + self.intercept


@dataclass
class BinaryModel(ServingCache):
    """Calibrated probability of the label from the feature service's columns (in
    `feature_names` order, NaN = missing). `scorer` is "model" or the name of the baseline
    that replaced it at the gate. The model part averages the logits of one LightGBM per
    cross-fitting fold and adds a logistic regression, blended with weight `blend`."""

    feature_names: list[str]
    horizon_days: float
    customer_base: BGNBD | None
    boosters: list[lgb.Booster]
    linear: LinearPart | None
    blend: float  # weight of the logistic part on the logit scale
    calibration: Calibration | None = None
    baselines: dict[str, Baseline] = field(default_factory=dict)
    scorer: str = MODEL
    label: str = ""

    @property
    def design_names(self) -> list[str]:
        return [*self.feature_names, *(BGNBD_FEATURES if self.customer_base else ())]

    def _columns(self, X: np.ndarray, names) -> dict[str, np.ndarray]:
        index = {n: i for i, n in enumerate(self.feature_names)}
        return {n: X[:, index[n]] for n in names}

    def design(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if self.customer_base is None:
            return X
        cb = bgnbd_features(self.customer_base, self.horizon_days,
                            self._columns(X, CUSTOMER_BASE_INPUTS))
        return np.column_stack([X, *(cb[n] for n in BGNBD_FEATURES)])

    def gbm_logit(self, D: np.ndarray) -> np.ndarray:
        """The folds' mean raw score, from one booster holding all their trees."""
        merged = self.cached("gbm", lambda: lgbm_predict.merge(
            [(b, 1.0 / len(self.boosters)) for b in self.boosters]))
        return lgbm_predict.predict(merged, D, raw_score=True)

    def model_logit(self, D: np.ndarray) -> np.ndarray:
        """Blended logit from a design matrix."""
        z = np.zeros(len(D))
        if self.boosters and self.blend < 1.0:
            z += (1 - self.blend) * self.gbm_logit(D)
        if self.linear is not None and self.blend > 0.0:
            z += self.blend * self.linear.logit(D)
        return z

    def predict_model(self, X: np.ndarray) -> np.ndarray:
        """The model's calibrated probability (whatever the gate chose)."""
        return self.calibration.apply(self.model_logit(self.design(X)))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The shipped scorer's calibrated probability; `X` columns in `feature_names` order."""
        if self.scorer == MODEL:
            return self.predict_model(X)
        X = np.asarray(X, dtype=np.float64)
        base = self.baselines[self.scorer]
        return base.predict_proba(self._columns(X, base.inputs))

    def predict_frame(self, df: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(df[self.feature_names].to_numpy(dtype=np.float64))

    def importance(self) -> np.ndarray:
        return sum(b.feature_importance("gain") for b in self.boosters)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if 0 < y.mean() < 1 else float("nan")


def fit_customer_base(frame: pd.DataFrame) -> BGNBD | None:
    """BG/NBD on the customers' (x, t_x, T) in `frame` (one snapshot); None if it cannot fit."""
    if not all(c in frame.columns for c in CUSTOMER_BASE_INPUTS):
        return None
    x, t_x, T = bgnbd_summary(columns(frame, CUSTOMER_BASE_INPUTS))
    ok = np.isfinite(x)
    try:
        return fit_bgnbd(x[ok], t_x[ok], T[ok])
    except FitError:
        return None


def folds_for(rows: int) -> int:
    return FOLDS if rows <= BIG_FIT_ROWS else FOLDS_BIG


def fit_binary(fit: pd.DataFrame, features: list[str], horizon_days: float,
               customer_base: BGNBD | None, baselines: list[Baseline],
               label: str = "label") -> tuple[BinaryModel, dict[str, float], np.ndarray]:
    """Cross-fitting by customer: each fold's LightGBM stops early on the fold's held-out
    customers, and the logistic part's strength is picked on the first fold. The out-of-fold
    predictions (every row scored by models that never saw its customer) choose the blend weight
    and fit the isotonic calibration. Baselines are fitted and calibrated on the same rows.
    Returns the model, fit information and the out-of-fold probabilities."""
    model = BinaryModel(features, horizon_days, customer_base, [], None, 0.0)
    names = model.design_names
    D = model.design(fit[features].to_numpy(np.float64))
    y = fit[label].to_numpy()
    k = folds_for(len(y))
    fold = customer_folds(fit[s.CUSTOMER_ID], k)
    oof_gbm, oof_lin = np.zeros(len(y)), np.zeros(len(y))
    info: dict[str, float] = {"folds": float(k)}
    linear = LinearPart.prepare(D)  # label-free transform shared by every fold
    coefs, intercepts = [], []
    rng = np.random.default_rng(7)
    for j in range(k):
        held = fold == j
        dtrain = lgb.Dataset(D[~held], y[~held], feature_name=names, free_raw_data=False)
        dval = lgb.Dataset(D[held], y[held], reference=dtrain)
        booster = lgb.train({**LGB_PARAMS, "seed": 7 + j}, dtrain, num_boost_round=MAX_ROUNDS,
                            valid_sets=[dval],
                            callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)])
        model.boosters.append(booster)
        info[f"best_iteration_fold{j}"] = float(booster.best_iteration)
        oof_gbm[held] = booster.predict(D[held], raw_score=True)
        rows = np.flatnonzero(~held)
        if len(rows) > LINEAR_MAX_ROWS:
            rows = rng.choice(rows, LINEAR_MAX_ROWS, replace=False)
        if j == 0:  # pick the L2 strength on the first fold
            aucs = {C: _auc(y[held], linear.fit(D[rows], y[rows], C).logit(D[held]))
                    for C in LINEAR_C}
            info.update({f"fold0_auc_linear_C{C:g}": a for C, a in aucs.items()})
            best_c = max(aucs, key=lambda C: aucs[C])
        linear.fit(D[rows], y[rows], best_c)
        oof_lin[held] = linear.logit(D[held])
        coefs.append(linear.coef.copy())
        intercepts.append(linear.intercept)
    linear.coef, linear.intercept = np.mean(coefs, axis=0), float(np.mean(intercepts))
    model.linear = linear
    aucs = {w: _auc(y, w * oof_lin + (1 - w) * oof_gbm) for w in BLEND_WEIGHTS}
    model.blend = max(aucs, key=lambda w: (aucs[w], -abs(w - 0.5)))
    info.update({f"oof_auc_blend_{w:g}": a for w, a in aucs.items()})
    oof = model.blend * oof_lin + (1 - model.blend) * oof_gbm
    model.calibration = Calibration.fit(oof, y)
    for b in baselines:
        cols = columns(fit, b.inputs)
        b.fit(cols, y).calibrate(cols, y)
        model.baselines[b.name] = b
    return model, info, model.calibration.apply(oof)


@dataclass(frozen=True)
class BinaryTask:
    name: str
    service: str
    labels: Callable[[Dataset, list[pd.Timestamp], pd.Timedelta], pd.DataFrame]
    label_is_lapse: bool  # the label is "no purchase/engagement" (churn), else "a purchase"
    description: str
    engagement_baseline: bool = False
    # Simulated data: agreement of test predictions with the latent truth (metric -> value).
    truth: Callable[[pd.DataFrame, np.ndarray, pd.DataFrame, pd.Timedelta],
                    dict[str, float]] | None = None


def labelled_frame(task: BinaryTask, store, ds: Dataset, horizon: pd.Timedelta,
                   every: pd.Timedelta) -> tuple[pd.DataFrame, FitSplit, dict[str, int]]:
    """Labels at snapshots -> the split -> (a stable sample beyond `MAX_FIT_ROWS`) -> Feast
    point-in-time features. The sample keeps every customer at some of their snapshots: a
    customer's rows a week apart repeat most of the same information."""
    times = SnapshotPlan(task.name, horizon, every).times(ds.start, ds.end)
    labels = task.labels(ds, times, horizon)
    split = split_for_fit(times, horizon, labels[ENTITY_TS].value_counts().to_dict())
    fit = labels[ENTITY_TS].isin(split.fit)
    labels = labels[fit | labels[ENTITY_TS].isin(split.test)]
    info = {"fit_rows_labelled": int(fit.sum())}
    n_fit = int(labels[ENTITY_TS].isin(split.fit).sum())
    if n_fit > MAX_FIT_ROWS:
        keys = labels[s.CUSTOMER_ID].astype(str) + labels[ENTITY_TS].astype(str)
        keep = holdout_customers(keys, MAX_FIT_ROWS / n_fit, salt="nba-sample")
        labels = labels[keep | labels[ENTITY_TS].isin(split.test)]
        info["fit_rows_sampled"] = int(labels[ENTITY_TS].isin(split.fit).sum())
    return training_frame(store, task.service, labels), split, info


def fit_on_frame(task: BinaryTask, fit: pd.DataFrame, features: list[str],
                 horizon: pd.Timedelta, customer_base_at: pd.DataFrame
                 ) -> tuple[BinaryModel, dict[str, float], np.ndarray]:
    """Fit the model and its baselines on `fit` rows, with the BG/NBD fitted on the customers
    of `customer_base_at` (one snapshot, no labels used). Returns out-of-fold probabilities."""
    h_days = horizon / pd.Timedelta(days=1)
    cb = fit_customer_base(customer_base_at)
    baselines = customer_base_baselines(task.label_is_lapse, h_days, cb,
                                        engagement=task.engagement_baseline)
    model, info, oof = fit_binary(fit.reset_index(drop=True), features, h_days, cb, baselines)
    model.label = task.description
    return model, info, oof


def scorer_metrics(model: BinaryModel, df: pd.DataFrame, prefix: str) -> dict[str, float]:
    """Metrics of the model and of each baseline on `df` (label column `label`)."""
    y = df["label"].to_numpy()
    X = df[model.feature_names].to_numpy(np.float64)
    out = {f"{prefix}_{k}": v for k, v in binary_metrics(y, model.predict_model(X)).items()}
    for name, b in model.baselines.items():
        for k, v in binary_metrics(y, b.predict_proba(columns(df, b.inputs))).items():
            if k != "positive_rate":
                out[f"{prefix}_baseline_{name}_{k}"] = v
    return out


def evaluate_binary(model: BinaryModel, eval_frame: pd.DataFrame) -> dict[str, float]:
    """AUC and friends of the model's probabilities on a labelled eval frame."""
    return binary_metrics(eval_frame["label"].to_numpy(), model.predict_frame(eval_frame))


def gate(model: BinaryModel, test: pd.DataFrame) -> tuple[str, str]:
    """Choose what ships: the model if its test AUC beats every baseline's, else the best
    baseline. Returns (scorer, one-line verdict)."""
    y = test["label"].to_numpy()
    X = test[model.feature_names].to_numpy(np.float64)
    ours = _auc(y, model.predict_model(X))
    theirs = {n: _auc(y, b.predict_proba(columns(test, b.inputs)))
              for n, b in model.baselines.items()}
    best = max(theirs, key=lambda n: theirs[n]) if theirs else None
    if best is None or ours > theirs[best]:
        margin = f" (best baseline {best} {theirs[best]:.4f})" if best else ""
        return MODEL, f"model AUC {ours:.4f} beats every baseline{margin}"
    return best, (f"model AUC {ours:.4f} does not beat baseline {best} {theirs[best]:.4f} on "
                  f"the test period: the registered model scores with {best}")


def evaluation_figures(name: str, y: np.ndarray, scores: dict[str, np.ndarray],
                       title: str) -> dict[str, object]:
    """ROC, calibration (zoomed to the predictions' range), gains."""
    return {
        f"{name}_roc.png": plots.roc_plot(y, scores, f"{name}: ROC, {title}"),
        f"{name}_calibration.png": plots.calibration_plot(y, scores,
                                                          f"{name}: calibration, {title}"),
        f"{name}_lift.png": plots.lift_plot(y, scores, f"{name}: gains, {title}"),
    }


def train_binary_task(task: BinaryTask, store, ds: Dataset, horizon: pd.Timedelta,
                      every: pd.Timedelta, why_horizon: str = "") -> TrainResult:
    """Labels -> Feast training frame -> fit on earlier snapshots -> test -> gate."""
    frame, split, sample_info = labelled_frame(task, store, ds, horizon, every)
    features = service_features(store, task.service)
    is_test = frame[ENTITY_TS].isin(split.test)
    fit, test = frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)
    at_test = test[test[ENTITY_TS] == split.test[0]]
    model, fit_info, oof = fit_on_frame(task, fit, features, horizon, at_test)
    metrics = {f"oof_{k}": v for k, v in binary_metrics(fit["label"].to_numpy(), oof).items()}
    metrics.update(scorer_metrics(model, test, "test"))
    model.scorer, verdict = gate(model, test)
    y = test["label"].to_numpy()
    X = test[model.feature_names].to_numpy(np.float64)
    p_model = model.predict_model(X)
    best_base = max(model.baselines, key=lambda n: metrics[f"test_baseline_{n}_auc"])
    diff = paired_auc_difference(y, p_model, model.baselines[best_base].predict_proba(
        columns(test, model.baselines[best_base].inputs)))
    metrics.update({"test_auc_diff_vs_best_baseline": diff.value,
                    "test_auc_diff_low": diff.low, "test_auc_diff_high": diff.high})
    if task.truth is not None and ds.truth is not None:
        metrics.update(task.truth(test, p_model, ds.truth, horizon))
    scores = {"model": p_model, **{f"baseline: {n}": b.predict_proba(columns(test, b.inputs))
                                   for n, b in model.baselines.items()}}
    figures = evaluation_figures(task.name, y, scores, "test period")
    figures[f"{task.name}_importance.png"] = plots.importance_plot(
        model.design_names, model.importance(), f"{task.name}: importance")
    h_days = horizon / pd.Timedelta(days=1)
    dataset = {
        "rows": len(frame), "fit_rows": len(fit), "test_rows": len(test), **sample_info,
        "fit_label_rate": float(fit["label"].mean()),
        "test_label_rate": float(test["label"].mean()),
        **split.describe(), "horizon_days": h_days, "horizon_reason": why_horizon,
        "snapshot_every_days": every / pd.Timedelta(days=1), "feature_service": task.service,
        "features": len(features), "label": task.description,
        "validation": f"cross-fitting over {folds_for(len(fit))} folds of customers",
        "customer_base": (dict(zip(("r", "alpha", "a", "b"), model.customer_base.params,
                                   strict=True)) if model.customer_base else "not fitted"),
        "scorer": model.scorer, "verdict": verdict,
    }
    return TrainResult(
        name=task.name, model=model, primary_metric="test_auc", metrics=metrics,
        params={**{k: v for k, v in LGB_PARAMS.items() if k != "verbose"}, **fit_info,
                "linear_C": model.linear.C, "blend_linear_weight": model.blend,
                "calibration": "isotonic on out-of-fold predictions",
                "baselines": ",".join(model.baselines), "horizon_days": h_days},
        figures=figures, dataset=dataset, scorer=model.scorer, verdict=verdict,
        eval_frame=test[[s.CUSTOMER_ID, ENTITY_TS, "label", *features]],
        input_example=test[features].head(5),
    )
