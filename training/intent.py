"""Purchase intent: will the customer purchase within 7 days of the snapshot?"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from features import schema as s
from features.dataset import Dataset
from features.transforms import ENTITY_TS
from training.binary import BinaryTask, LogisticBaseline, log_days, train_binary_task
from training.labels import INTENT_HORIZON, intent_labels
from training.result import TrainResult

SERVICE = "intent_v1"


def recency_frequency() -> LogisticBaseline:
    """The classic heuristic: days since the last purchase and purchases in 90 days."""
    def x(df: pd.DataFrame) -> np.ndarray:
        return np.column_stack([log_days(df["hours_since_last_purchase"]),
                                np.log1p(df["purchases_90d"].fillna(0))])
    return LogisticBaseline("recency_frequency", x)


def truth_agreement(test: pd.DataFrame, p: np.ndarray, truth: pd.DataFrame) -> dict[str, float]:
    """Rank correlation of predicted intent with the simulator's latent purchase rate
    (missions per day x their conversion), among customers not yet churned."""
    t = truth.set_index(s.CUSTOMER_ID).reindex(test[s.CUSTOMER_ID])
    alive = (t["churn_ts"].to_numpy() > test[ENTITY_TS].to_numpy())
    rate = (t["mission_rate"] * t["mission_conversion"]).to_numpy()
    rho = spearmanr(p[alive], rate[alive]).statistic
    return {"truth_spearman_intent_vs_latent_purchase_rate": float(rho)}


TASK = BinaryTask(
    name="intent", service=SERVICE, horizon=INTENT_HORIZON,
    labels=lambda ds, times: intent_labels(ds.events, ds.customers, times),
    baseline=recency_frequency,
    description="purchase within 7 days after the snapshot (all signed-up customers)",
    truth=truth_agreement,
)


def train_intent(store, ds: Dataset) -> TrainResult:
    return train_binary_task(TASK, store, ds)
