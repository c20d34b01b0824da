"""Churn risk: among recently engaged customers, no purchase and no engagement for 60 days."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features import schema as s
from features.dataset import Dataset
from features.transforms import ENTITY_TS
from training.binary import BinaryTask, LogisticBaseline, log_days, train_binary_task
from training.labels import CHURN_HORIZON, churn_labels
from training.result import TrainResult

SERVICE = "churn_v1"


def recency_frequency() -> LogisticBaseline:
    """Engagement recency and frequency: days since the last event, site events in 90 days."""
    def x(df: pd.DataFrame) -> np.ndarray:
        return np.column_stack([log_days(df["hours_since_last_event"]),
                                np.log1p(df["site_events_90d"].fillna(0))])
    return LogisticBaseline("recency_frequency", x)


def truth_agreement(test: pd.DataFrame, p: np.ndarray, truth: pd.DataFrame) -> dict[str, float]:
    """AUC of the churn score against the simulator's latent churn: did the customer's true
    churn time fall before the end of the label window?"""
    churn_ts = truth.set_index(s.CUSTOMER_ID)["churn_ts"].reindex(test[s.CUSTOMER_ID])
    churned = (churn_ts.to_numpy() <= (test[ENTITY_TS] + CHURN_HORIZON).to_numpy()).astype(int)
    if churned.min() == churned.max():
        return {}
    return {"truth_auc_vs_latent_churn": float(roc_auc_score(churned, p))}


TASK = BinaryTask(
    name="churn", service=SERVICE, horizon=CHURN_HORIZON,
    labels=lambda ds, times: churn_labels(ds.events, times),
    baseline=recency_frequency,
    description="no purchase, site visit, email open or click in the 60 days after the "
                "snapshot, among customers engaged in the 60 days before",
    truth=truth_agreement,
)


def train_churn(store, ds: Dataset) -> TrainResult:
    return train_binary_task(TASK, store, ds)
