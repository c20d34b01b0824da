"""Online feature reads for decisions: the `policy_v1` service's stored views from Feast, and
request-time features from the same function as Feast's on-demand view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from features import schema as s
from features.transforms import REQUEST_TS, request_context

if TYPE_CHECKING:
    from feast import FeatureStore

SERVICE = "policy_v1"
CONTEXT_VIEW = "customer_context"


class OnlineFeatures:
    """Reads one or many customers' feature vectors (one Feast call per request or batch).

    The request-time features are computed in-process by `request_context`, the function the
    `customer_context` on-demand view runs, which saves Feast's on-demand overhead per call
    (benchmarks/serving.py measures both; tests check they agree).
    """

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        service = store.get_feature_service(SERVICE)
        self.refs = [f"{p.name}:{f.name}" for p in service.feature_view_projections
                     if p.name != CONTEXT_VIEW for f in p.features]
        self.names = [r.split(":", 1)[1] for r in self.refs]

    def read(self, customer_ids: Sequence[str], now_ts: Sequence[float]) -> list[dict[str, Any]]:
        rows = [{s.CUSTOMER_ID: c} for c in customer_ids]
        data = self.store.get_online_features(self.refs, rows).to_dict()
        cols = {n: data[n] for n in self.names}
        ctx_in = {REQUEST_TS: np.asarray(now_ts, dtype=float)}
        for name in ("last_event_ts", "last_site_ts", "last_view_ts", "last_cart_add_ts",
                     "last_purchase_ts", "last_email_sent_ts", "last_email_open_ts",
                     "last_email_click_ts", "signup_ts", "profile_signup_ts", "cart_items",
                     "utc_offset_hours"):
            ctx_in[name] = np.array([np.nan if v is None else v for v in cols[name]], dtype=float)
        ctx = request_context(ctx_in)
        out = []
        for i in range(len(rows)):
            feats = {n: cols[n][i] for n in self.names}
            for k, v in ctx.items():
                val = v[i]
                feats[k] = None if isinstance(val, float) and np.isnan(val) else val.item()
            out.append(feats)
        return out


def is_known(features: dict[str, Any]) -> bool:
    """Whether the online store has anything for this customer."""
    return features.get("last_event_ts") is not None or features.get("consent") is not None
