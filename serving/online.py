"""Online feature reads for decisions: the `policy_v1` service's stored views from Feast, and
request-time features from the same function as Feast's on-demand view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from features import schema as s
from features.feature_rows import FeatureRows
from features.online import feast_internals
from features.transforms import CONTEXT_INPUTS, REQUEST_TS, request_context

if TYPE_CHECKING:
    from feast import FeatureStore

SERVICE = "policy_v1"
CONTEXT_VIEW = "customer_context"


class OnlineFeatures:
    """Reads one or many customers' feature vectors: on SQLite one query per customer for all
    the service's views, on Redis one HMGET per customer for all of them, on other stores one
    provider `online_read` per view (`direct=False`: Feast's `get_online_features`, the
    reference; tests check all agree).

    The request-time features are computed in-process by `request_context`, the function the
    `customer_context` on-demand view runs, which saves Feast's on-demand overhead per call
    (benchmarks/serving.py measures both).
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
        self._fast: _SqliteRead | _RedisRead | None = None
        if direct and feast_internals.is_sqlite(store):
            self._fast = _SqliteRead(store, self.views)
        elif direct and feast_internals.is_redis(store):
            self._fast = _RedisRead(store, self.views)

    def _read_direct(self, customer_ids: Sequence[str]) -> dict[str, list[Any]]:
        """The service's stored views through the provider's `online_read`, one call per view:
        the same store and decoding as `get_online_features` without its per-call
        generic machinery (benchmarks/serving.py; tests check both agree)."""
        keys = _entity_keys(customer_ids)
        provider = feast_internals.provider(self.store)
        cols: dict[str, list[Any]] = {}
        for view, names in self.views:
            # a copy: Feast's Redis store appends its timestamp key to the list it is given
            # (each read would grow ours, and every later read would hash one more field)
            found = provider.online_read(self.store.config, view, keys, list(names))
            for name in names:
                cols[name] = [None if values is None or name not in values else
                              _decode(values[name]) for _, values in found]
        return cols

    def read(self, customer_ids: Sequence[str], now_ts: Sequence[float]) -> FeatureRows:
        """One feature dict per customer (stored views and request-time features), with the
        same values by column."""
        rows = [{s.CUSTOMER_ID: c} for c in customer_ids]
        if self._fast is not None:
            cols = self._fast.read(customer_ids, self.names)
        elif self.direct:
            cols = self._read_direct(customer_ids)
        else:
            data = self.store.get_online_features(self.refs, rows).to_dict()
            cols = {n: data[n] for n in self.names}
        # the request-time inputs in one float matrix (None becomes NaN)
        inputs = np.array([cols[name] for name in CONTEXT_INPUTS], dtype=float)
        ctx_in = {REQUEST_TS: np.asarray(now_ts, dtype=float), **dict(zip(CONTEXT_INPUTS, inputs,
                                                                          strict=True))}
        # request-time columns as Python values, NaN as None (x != x only for NaN)
        ctx = {k: [None if x != x else x for x in v.tolist()]
               for k, v in request_context(ctx_in).items()}
        columns = [(n, cols[n]) for n in self.names] + list(ctx.items())
        return FeatureRows([{n: col[i] for n, col in columns} for i in range(len(rows))],
                           dict(columns))


_UNKNOWN = object()
MAX_KNOWN_VALUES = 100_000


class _Decoded:
    """Stored value protos decoded, scalars remembered by their bytes (they repeat: flags,
    counts, the same prices), up to `MAX_KNOWN_VALUES`. Loops over many values look up
    `known` themselves (`_UNKNOWN` when not remembered) and call this only for the rest."""

    def __init__(self) -> None:
        from feast.protos.feast.types.Value_pb2 import Value

        self._value = Value()
        self.known: dict[bytes, Any] = {}

    def __call__(self, blob: bytes) -> Any:
        v = self.known.get(blob, _UNKNOWN)
        if v is _UNKNOWN:
            self._value.ParseFromString(blob)
            v = _decode(self._value)
            if not isinstance(v, list) and len(self.known) < MAX_KNOWN_VALUES:
                self.known[blob] = v
        return v


def _entity_keys(customer_ids: Sequence[str]) -> list[Any]:
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return [EntityKey(join_keys=[s.CUSTOMER_ID], entity_values=[Value(string_val=str(c))])
            for c in customer_ids]


class _RedisRead:
    """The service's views from Feast's Redis online store: Feast keeps one hash per entity
    with every view's features, so one HMGET per customer (one pipeline for all) reads them,
    where the provider makes one per view and builds a proto per value. Feast's own keys,
    fields and client."""

    def __init__(self, store: FeatureStore, views: list[tuple[Any, list[str]]]) -> None:
        self.store = store
        self.names = [n for _, names in views for n in names]
        self.fields = [f for view, names in views
                       for f in feast_internals.redis_fields(store, view, names)]
        self.decoded = _Decoded()

    def read(self, customer_ids: Sequence[str], names: list[str]) -> dict[str, list[Any]]:
        if not customer_ids:
            return {n: [] for n in names}
        replies = feast_internals.redis_hmget(self.store, _entity_keys(customer_ids),
                                              self.fields)
        decoded, known = self.decoded, self.decoded.known.get
        cols = {n: [None if b is None else v if (v := known(b, _UNKNOWN)) is not _UNKNOWN
                    else decoded(b) for b in values]
                for n, values in zip(self.names, zip(*replies, strict=True), strict=True)}
        return {n: cols[n] for n in names}


class _SqliteRead:
    """The service's views from Feast's SQLite online store, one query per customer (a UNION
    over the views' tables, which Feast keys by serialized entity key, one row per feature),
    without the provider's per-row timestamp conversions. Uses Feast's own connection, table
    names and key encoding."""

    def __init__(self, store: FeatureStore, views: list[tuple[Any, list[str]]]) -> None:
        self.store = store
        self.tables = [feast_internals.sqlite_table(store, view) for view, _ in views]
        self.wanted = [frozenset(names) for _, names in views]
        # one customer per query, without the key in each row: 20% less SQLite time than
        # one query for many customers that returns each row's key (measured, 2026-12-01)
        self.sql = " UNION ALL ".join(f"SELECT {i}, feature_name, value FROM {table} "
                                      "WHERE entity_key = ?" for i, table in enumerate(self.tables))
        self.decoded = _Decoded()

    def read(self, customer_ids: Sequence[str], names: list[str]) -> dict[str, list[Any]]:
        from feast.infra.key_encoding_utils import serialize_entity_key

        version = self.store.config.entity_key_serialization_version
        keys = [serialize_entity_key(k, entity_key_serialization_version=version)
                for k in _entity_keys(customer_ids)]
        cols: dict[str, list[Any]] = {n: [None] * len(keys) for n in names}
        execute = feast_internals.sqlite_connection(self.store).execute
        decoded, known, wanted = self.decoded, self.decoded.known.get, self.wanted
        tables = len(self.tables)
        for i, key in enumerate(keys):
            for view, name, blob in execute(self.sql, (key,) * tables).fetchall():
                if name in wanted[view]:
                    v = known(blob, _UNKNOWN)  # most values are remembered: no call per value
                    cols[name][i] = decoded(blob) if v is _UNKNOWN else v
        return cols


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
