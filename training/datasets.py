"""Training frames: labels joined point-in-time to a model's Feast feature service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import schema as s
from features.transforms import ENTITY_TS, REQUEST_TS, epoch_seconds

if TYPE_CHECKING:
    from feast import FeatureStore


def service_features(store: FeatureStore, service: str) -> list[str]:
    """Feature names of a feature service, in its order (the order the model is trained on)."""
    fs = store.get_feature_service(service)
    return [f.name for p in fs.feature_view_projections for f in p.features]


def _utc_ns(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.as_unit("ns")


def training_frame(store: FeatureStore, service: str, labels: pd.DataFrame) -> pd.DataFrame:
    """`labels` (customer_id, event_timestamp, label columns) with the service's features as of
    each snapshot, from Feast's point-in-time join. Rows keep the labels' order."""
    entity = labels[[s.CUSTOMER_ID, ENTITY_TS]].drop_duplicates().copy()
    entity[ENTITY_TS] = _utc_ns(entity[ENTITY_TS])
    entity[REQUEST_TS] = epoch_seconds(entity[ENTITY_TS]).astype(float)
    feats = store.get_historical_features(
        entity_df=entity, features=store.get_feature_service(service)).to_df()
    names = service_features(store, service)
    feats[ENTITY_TS] = _utc_ns(feats[ENTITY_TS])
    out = labels.copy()
    out[ENTITY_TS] = _utc_ns(out[ENTITY_TS])
    out = out.merge(feats[[s.CUSTOMER_ID, ENTITY_TS, *names]], on=[s.CUSTOMER_ID, ENTITY_TS],
                    how="left", validate="many_to_one")
    out[names] = out[names].astype(float)
    return out



SAMPLE_SALT = "nba-train-sample"  # its own salt: independent of the validation and fold hashes


def in_sample(customer_ids: np.ndarray | pd.Series, share: float) -> np.ndarray:
    """Which customers are in the training sample of `nba train --sample SHARE`: a stable
    `share` of them by a hash of the id (resolution 1/10,000), so every run and machine trains
    on the same customers, and a smaller share's customers are within a larger one's."""
    from training.splits import holdout_customers

    if not 0.0 < share <= 1.0:
        raise ValueError(f"--sample {share}: expected a share of customers, 0 < share <= 1")
    return holdout_customers(customer_ids, share, salt=SAMPLE_SALT)
