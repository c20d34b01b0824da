"""Send time: a probability per UTC hour of the customer's next email open.

Two candidates are compared on the validation period and the better one is kept:
- a smoothed per-customer histogram of past open hours, shrunk towards the population;
- LightGBM (multiclass, 24 hours) on the `send_time_v1` features plus that histogram.
Data without email opens falls back to site activity, then purchase hours, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from features import schema as s
from features.sources.dataset import Dataset
from features.transforms import ENTITY_TS, customer_items
from training import lgbm_predict, plots
from training.datasets import service_features, training_frame
from training.labels import (
    SEND_TIME_HORIZON,
    SEND_TIME_PLAN,
    send_time_labels,
    send_time_source,
)
from training.metrics import hour_distance, hour_metrics
from training.model_specs import SPECS
from training.result import TrainResult
from training.splits import apply_split, split_by_time

SERVICE = SPECS["send_time"].feature_service
HIST_COLS = [f"hist_{h:02d}" for h in range(24)]
KERNEL = np.array([0.25, 0.5, 0.25])  # circular smoothing over neighbouring hours
ALPHAS = (0.5, 1.0, 2.0, 4.0)  # prior strength (pseudo-opens of the population profile)
LGB_PARAMS = {"objective": "multiclass", "num_class": 24, "learning_rate": 0.1,
              "num_leaves": 15, "min_data_in_leaf": 50, "feature_fraction": 0.8,
              "lambda_l2": 1.0, "verbose": -1, "num_threads": 2, "seed": 7,
              "deterministic": True}


def _circular_smooth(m: np.ndarray) -> np.ndarray:
    return KERNEL[0] * np.roll(m, 1, axis=1) + KERNEL[1] * m + KERNEL[2] * np.roll(m, -1, axis=1)


def best_hour(probs: np.ndarray, window: int = 1) -> np.ndarray:
    """The hour whose +-`window` neighbourhood holds the most probability."""
    mass = sum(np.roll(probs, k, axis=1) for k in range(-window, window + 1))
    return np.argmax(mass, axis=1)


def evaluate_send_time(model: SendTimeModel, eval_frame: pd.DataFrame) -> dict[str, float]:
    """Hit rates of the model's best hour against the hours customers opened (eval frame)."""
    return hour_metrics(best_hour(model.predict_frame(eval_frame)), eval_frame["hour"].to_numpy())


@dataclass
class SendTimeModel:
    """Hour probabilities from the customer's hour histogram (and features, for LightGBM)."""

    kind: str  # "histogram" or "lightgbm"
    population: np.ndarray  # 24 probabilities
    alpha: float
    feature_names: list[str]
    source: str  # which histogram feeds it: "open_hour_hist" or "active_hour_hist"
    booster: lgb.Booster | None = None

    def histogram_probs(self, hist: np.ndarray) -> np.ndarray:
        hist = np.asarray(hist, dtype=np.float64)
        smoothed = _circular_smooth(hist) + self.alpha * self.population
        return smoothed / smoothed.sum(axis=1, keepdims=True)

    def hour_probs(self, hist: np.ndarray, X: np.ndarray | None = None) -> np.ndarray:
        """(n, 24) probabilities; `X` holds `feature_names` columns (LightGBM only)."""
        base = self.histogram_probs(hist)
        if self.kind == "histogram":
            return base
        full = np.column_stack([np.asarray(X, dtype=np.float64), base])
        return lgbm_predict.predict(self.booster, full)

    def predict_frame(self, df: pd.DataFrame) -> np.ndarray:
        X = df[self.feature_names].to_numpy(float) if self.kind == "lightgbm" else None
        return self.hour_probs(df[HIST_COLS].to_numpy(float), X)


def _histograms(events: pd.DataFrame, labels: pd.DataFrame, source: str) -> pd.DataFrame:
    """Each labelled snapshot's hour histogram as of the snapshot (same transform as serving)."""
    rows = []
    for t, grp in labels.groupby(ENTITY_TS):
        ev = events[events[s.CUSTOMER_ID].isin(grp[s.CUSTOMER_ID])]
        items = customer_items(ev, as_of=t).set_index(s.CUSTOMER_ID)[source]
        hist = np.zeros((len(grp), 24))
        known = grp[s.CUSTOMER_ID].isin(items.index).to_numpy()
        if known.any():
            hist[known] = np.vstack(items.loc[grp[s.CUSTOMER_ID][known]].to_numpy())
        rows.append(pd.DataFrame(hist, columns=HIST_COLS, index=grp.index))
    return pd.concat(rows).loc[labels.index]


def train_send_time(store, ds: Dataset, horizons: object = None) -> TrainResult:
    types = send_time_source(ds.events)
    warnings = []
    source = "open_hour_hist"
    if types != (str(s.EventType.EMAIL_OPEN),):
        source = "active_hour_hist"
        warnings.append(f"no email opens in this data: send time falls back to the hour of "
                        f"{'/'.join(types[:3])}{'...' if len(types) > 3 else ''} events")
    times = SEND_TIME_PLAN.times(ds.start, ds.end)
    labels = send_time_labels(ds.events, times, types)
    split = split_by_time(times, SEND_TIME_HORIZON, labels[ENTITY_TS].value_counts().to_dict(),
                          min_test_rows=500)
    labels = labels[labels[ENTITY_TS].isin([*split.train, *split.val, *split.test])]
    frame = training_frame(store, SERVICE, labels.reset_index(drop=True))
    frame[HIST_COLS] = _histograms(ds.events, frame, source).to_numpy()
    features = service_features(store, SERVICE)
    parts = apply_split(frame, split)
    train, val, test = parts["train"], parts["val"], parts["test"]
    pop = np.bincount(train["hour"], minlength=24) + 1.0
    pop = pop / pop.sum()

    def val_hit3(m: SendTimeModel) -> float:
        return hour_metrics(best_hour(m.predict_frame(val)), val["hour"].to_numpy())["hit_3h"]

    candidates = [SendTimeModel("histogram", pop, a, features, source) for a in ALPHAS]
    hist_model = max(candidates, key=val_hit3)
    lgb_model = _fit_lightgbm(train, val, features, hist_model)
    chosen = max([hist_model, lgb_model], key=val_hit3)

    metrics: dict[str, float] = {"val_hit_3h_histogram": val_hit3(hist_model),
                                 "val_hit_3h_lightgbm": val_hit3(lgb_model)}
    actual = test["hour"].to_numpy()
    pred = best_hour(chosen.predict_frame(test))
    metrics.update({f"test_{k}": v for k, v in hour_metrics(pred, actual).items()})
    global_best = int(best_hour(pop[None, :])[0])
    baselines = {
        "global_best_hour": np.full(len(test), global_best),
        "most_frequent_hour": np.where(test[HIST_COLS].sum(axis=1) > 0,
                                       test[HIST_COLS].to_numpy().argmax(axis=1), global_best),
    }
    for name, b in baselines.items():
        for k, v in hour_metrics(b, actual).items():
            metrics[f"test_baseline_{name}_{k}"] = v
    if ds.truth is not None:
        metrics["truth_hit_1h_vs_preferred_hour"] = _truth_hit(test, pred, ds.truth)
    hits = {"model": metrics["test_hit_3h"],
            **{n: metrics[f"test_baseline_{n}_hit_3h"] for n in baselines}}
    figures = {
        "send_time_heatmap.png": plots.hour_heatmap(actual, pred, "send time: actual vs "
                                                    "predicted hour, test period"),
        "send_time_hits.png": plots.bar_plot(hits, "hit within 3 h, test period", "hit rate"),
    }
    return TrainResult(
        name="send_time", model=chosen, primary_metric="test_hit_3h", metrics=metrics,
        params={"chosen": chosen.kind, "alpha": chosen.alpha, "source": source,
                "label_event_types": ",".join(types), **{f"lgb_{k}": v for k, v in
                                                         LGB_PARAMS.items() if k != "verbose"}},
        figures=figures,
        dataset={"rows": len(frame), **{f"{k}_rows": len(v) for k, v in parts.items()},
                 **split.describe(), "feature_service": SERVICE, "label": "UTC hour of the "
                 f"first {'/'.join(types[:2])} event in the 7 days after the snapshot"},
        eval_frame=test[[s.CUSTOMER_ID, ENTITY_TS, "hour", *features, *HIST_COLS]],
        input_example=test[[*features, *HIST_COLS]].head(5),
        warnings=warnings,
    )


def _truth_hit(test: pd.DataFrame, pred: np.ndarray, truth: pd.DataFrame) -> float:
    """Share of predicted best hours within 1 h of the simulator's latent preferred hour."""
    from zoneinfo import ZoneInfo

    t = truth.set_index(s.CUSTOMER_ID).reindex(test[s.CUSTOMER_ID])
    offsets = np.array([ZoneInfo(z).utcoffset(ts.to_pydatetime()).total_seconds() / 3600
                        for z, ts in zip(t["timezone"], test[ENTITY_TS], strict=True)])
    pref_utc = np.round(t["preferred_hour_local"].to_numpy() - offsets) % 24
    return float((hour_distance(pred, pref_utc) <= 1).mean())


def _fit_lightgbm(train: pd.DataFrame, val: pd.DataFrame, features: list[str],
                  hist_model: SendTimeModel) -> SendTimeModel:
    def x(df: pd.DataFrame) -> np.ndarray:
        return np.column_stack([df[features].to_numpy(float),
                                hist_model.histogram_probs(df[HIST_COLS].to_numpy(float))])

    names = [*features, *(f"hist_prob_{h:02d}" for h in range(24))]
    dtrain = lgb.Dataset(x(train), train["hour"].to_numpy(), feature_name=names)
    dval = lgb.Dataset(x(val), val["hour"].to_numpy(), reference=dtrain)
    booster = lgb.train(LGB_PARAMS, dtrain, num_boost_round=300, valid_sets=[dval],
                        callbacks=[lgb.early_stopping(20, verbose=False)])
    return SendTimeModel("lightgbm", hist_model.population, hist_model.alpha, features,
                         hist_model.source, booster)
