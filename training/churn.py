"""Churn risk. Logs with site or email events: among recently engaged customers, no purchase and
no engagement within the horizon. Transaction-only logs: among customers who bought before,
no purchase within the horizon (training/labels.py, `CHURN_DEFINITIONS`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features import schema as s
from features.sources.dataset import Dataset
from features.transforms import ENTITY_TS
from training.binary import BinaryTask, train_binary_task
from training.horizons import Horizons, describe
from training.labels import (
    CHURN_ACTIVE_BEFORE,
    CHURN_DEFINITIONS,
    churn_definition,
    churn_labels,
    lapse_labels,
)
from training.model_specs import SPECS
from training.result import TrainResult

SERVICE = SPECS["churn"].feature_service


def truth_agreement(test: pd.DataFrame, p: np.ndarray, truth: pd.DataFrame,
                    horizon: pd.Timedelta) -> dict[str, float]:
    """AUC of the churn score against the simulator's latent churn: did the customer's true
    churn time fall before the end of the label window?"""
    churn_ts = truth.set_index(s.CUSTOMER_ID)["churn_ts"].reindex(test[s.CUSTOMER_ID])
    churned = (churn_ts.to_numpy() <= (test[ENTITY_TS] + horizon).to_numpy()).astype(int)
    if churned.min() == churned.max():
        return {}
    return {"truth_auc_vs_latent_churn": float(roc_auc_score(churned, p))}


def task(definition: str, horizon: pd.Timedelta) -> BinaryTask:
    text = CHURN_DEFINITIONS[definition].format(h=describe(horizon),
                                                a=describe(CHURN_ACTIVE_BEFORE))
    if definition == "purchase":
        labels = lambda ds, times, h: lapse_labels(ds.events, times, h)  # noqa: E731
    else:
        labels = lambda ds, times, h: churn_labels(ds.events, times, h)  # noqa: E731
    return BinaryTask(name="churn", service=SERVICE, labels=labels, label_is_lapse=True,
                      description=f"{definition} churn: {text}",
                      engagement_baseline=definition == "engagement", truth=truth_agreement)


def train_churn(store, ds: Dataset, horizons: Horizons) -> TrainResult:
    h = horizons.horizon["churn"]
    return train_binary_task(task(churn_definition(ds.events), h), store, ds, h,
                             horizons.every["churn"], horizons.why["churn"])
