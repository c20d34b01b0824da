"""Online feature reads for decisions: the `policy_v1` service's stored views from Feast, and
request-time features from the same function as Feast's on-demand view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from features import schema as s
from features.transforms import CONTEXT_INPUTS, REQUEST_TS, request_context

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

    def __init__(self, store: FeatureStore, direct: bool = True) -> None:
        self.store = store
        self.direct = direct
        service = store.get_feature_service(SERVICE)
        projections = [p for p in service.feature_view_projections if p.name != CONTEXT_VIEW]
        self.refs = [f"{p.name}:{f.name}" for p in projections for f in p.features]
        self.names = [r.split(":", 1)[1] for r in self.refs]
        views = {fv.name: fv for fv in store.list_feature_views()}
        self.views = [(views[p.name], [f.name for f in p.features]) for p in projections]

    def _read_direct(self, customer_ids: Sequence[str]) -> dict[str, list[Any]]:
        """The service's stored views through the provider's `online_read`, one call per view:
        the same store and decoding as `get_online_features` without its per-call
        generic machinery (benchmarks/serving.py; tests check both agree)."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        keys = [EntityKey(join_keys=[s.CUSTOMER_ID], entity_values=[Value(string_val=str(c))])
                for c in customer_ids]
        provider = self.store._get_provider()
        cols: dict[str, list[Any]] = {}
        for view, names in self.views:
            found = provider.online_read(self.store.config, view, keys, names)
            for name in names:
                cols[name] = [None if values is None or name not in values else
                              _decode(values[name]) for _, values in found]
        return cols

    def read(self, customer_ids: Sequence[str], now_ts: Sequence[float]) -> list[dict[str, Any]]:
        rows = [{s.CUSTOMER_ID: c} for c in customer_ids]
        if self.direct:
            cols = self._read_direct(customer_ids)
        else:
            data = self.store.get_online_features(self.refs, rows).to_dict()
            cols = {n: data[n] for n in self.names}
        ctx_in = {REQUEST_TS: np.asarray(now_ts, dtype=float)}
        for name in CONTEXT_INPUTS:
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


def _decode(value) -> Any:
    """A Feast ValueProto as a Python value (scalars, or lists for *_list_val)."""
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    v = getattr(value, kind)
    return list(v.val) if kind.endswith("_list_val") else v


def is_known(features: dict[str, Any]) -> bool:
    """Whether the online store has anything for this customer."""
    return features.get("last_event_ts") is not None or features.get("consent") is not None
