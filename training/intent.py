"""Purchase intent: will the customer purchase within the horizon after the snapshot?"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from features import schema as s
from features.sources.dataset import Dataset
from features.transforms import ENTITY_TS
from training.binary import BinaryTask, train_binary_task
from training.horizons import Horizons, describe
from training.labels import intent_labels
from training.model_specs import SPECS
from training.result import TrainResult

SERVICE = SPECS["intent"].feature_service


def truth_agreement(test: pd.DataFrame, p: np.ndarray, truth: pd.DataFrame,
                    horizon: pd.Timedelta) -> dict[str, float]:
    """Rank correlation of predicted intent with the simulator's latent purchase rate
    (missions per day x their conversion), among customers not yet churned."""
    t = truth.set_index(s.CUSTOMER_ID).reindex(test[s.CUSTOMER_ID])
    alive = (t["churn_ts"].to_numpy() > test[ENTITY_TS].to_numpy())
    rate = (t["mission_rate"] * t["mission_conversion"]).to_numpy()
    rho = spearmanr(p[alive], rate[alive]).statistic
    return {"truth_spearman_intent_vs_latent_purchase_rate": float(rho)}


def task(horizon: pd.Timedelta) -> BinaryTask:
    return BinaryTask(
        name="intent", service=SERVICE, label_is_lapse=False,
        labels=lambda ds, times, h: intent_labels(ds.events, ds.customers, times, h),
        description=f"a purchase within {describe(horizon)} after the snapshot (every customer "
                    "known by then)",
        truth=truth_agreement,
    )


def train_intent(store, ds: Dataset, horizons: Horizons) -> TrainResult:
    h = horizons.horizon["intent"]
    return train_binary_task(task(h), store, ds, h, horizons.every["intent"],
                             horizons.why["intent"])
