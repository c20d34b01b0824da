"""The one place that reaches into Feast's internals, and why.

Feast's public API (`get_online_features`, `push`, `write_to_online_store`) re-resolves views
and services from the registry and converts values row by row on every call: the serving path
and the live path would spend most of their time there (benchmarks/serving.py,
benchmarks/features.py). They call the provider and the online store directly instead, which
are stable across Feast 0.4x-0.6x but private; a Feast upgrade is checked here and by the
parity tests (tests/serving/test_response_serving.py, tests/features/test_feature_store.py).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feast import FeatureStore


def provider(store: FeatureStore) -> Any:
    """The store's provider: `online_read` per view, `ingest_df` into the online store."""
    return store._get_provider()


def online_store(store: FeatureStore) -> Any:
    """The provider's online store object (SqliteOnlineStore, RedisOnlineStore, ...)."""
    return getattr(provider(store), "online_store", None)


def redis_client(store: FeatureStore) -> Any:
    """Feast's (lazily built) Redis client, to give it socket timeouts and one try per call."""
    return online_store(store)._get_client(store.config.online_store)


def sqlite_connection(store: FeatureStore) -> Any:
    """Feast's SQLite connection to the online store (the one its own reads and writes use)."""
    return online_store(store)._get_conn(store.config)


def sqlite_table(store: FeatureStore, view: Any) -> str:
    """The quoted SQLite table name Feast keeps a feature view's online rows in."""
    from feast.infra.online_stores.sqlite import _quote_id, _table_id

    versioned = getattr(store.config.registry, "enable_online_feature_view_versioning", False)
    return _quote_id(_table_id(store.config.project, view, versioned))


def is_sqlite(store: FeatureStore) -> bool:
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    return isinstance(online_store(store), SqliteOnlineStore)


# ------------------------------------------------------------------ writes of pushed rows
# `provider.ingest_df` (what `FeatureStore.push` runs) converts a frame to Feast's row format
# through pyarrow and a per-value type dispatch: 40% of a live ingest's time on Redis
# (benchmarks/features.py). The rows below are the same (tests/features/test_feature_store.py
# compares them, serialized, with Feast's own), built column by column with the value protos
# shared between equal values; any type not listed goes through Feast's converter.
_SCALARS = {"DOUBLE": ("double_val", float), "FLOAT": ("float_val", float),
            "INT64": ("int64_val", int), "INT32": ("int32_val", int),
            "STRING": ("string_val", str), "BOOL": ("bool_val", bool)}
_LISTS = {"DOUBLE_LIST": ("double_list_val", "DoubleList", float),
          "FLOAT_LIST": ("float_list_val", "FloatList", float),
          "INT64_LIST": ("int64_list_val", "Int64List", int),
          "STRING_LIST": ("string_list_val", "StringList", str)}


def _proto_column(values: Any, value_type: Any) -> list:
    """One column as Feast value protos (null and NaN: the empty proto, as Feast writes)."""
    import math

    from feast.protos.feast.types import Value_pb2
    from feast.type_map import python_values_to_proto_values

    empty = Value_pb2.Value()
    kind = value_type.name
    if kind in _SCALARS:
        field, cast = _SCALARS[kind]
        seen: dict[Any, Any] = {}
        out = []
        for v in values:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                out.append(empty)
                continue
            v = cast(v)
            p = seen.get(v)
            if p is None:
                p = seen[v] = Value_pb2.Value(**{field: v})
            out.append(p)
        return out
    if kind in _LISTS:
        field, message, cast = _LISTS[kind]
        cls = getattr(Value_pb2, message)
        return [empty if v is None else Value_pb2.Value(**{field: cls(val=_list_items(v, cast))})
                for v in values]
    return python_values_to_proto_values(list(values), value_type)


def _list_items(value: Any, cast: Any) -> list:
    """A list feature's items as Python values of the proto's type (float arrays, the hour
    histograms, in one call)."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.tolist()
    return [cast(x) for x in value]


def _entity_join_key(view: Any) -> str:
    """The view's one join key (our views have one entity; a created-timestamp column, which
    the row building here ignores, is refused)."""
    (join_key,) = [c.name for c in view.entity_columns]
    if view.batch_source.created_timestamp_column:
        raise ValueError(f"{view.name}: views with a created-timestamp column are not supported")
    return join_key


def online_rows(view: Any, df: Any) -> list[tuple]:
    """A frame of one view's features as Feast's online rows: (entity key, {feature: value
    proto}, event time, None), as `provider.ingest_df` builds them."""
    import pandas as pd
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    join_key = _entity_join_key(view)
    names = [f.name for f in view.features]
    columns = [_proto_column(df[n].tolist(), f.dtype.to_value_type())
               for n, f in zip(names, view.features, strict=True)]
    keys = [EntityKey(join_keys=[join_key], entity_values=[Value(string_val=str(c))])
            for c in df[join_key].tolist()]
    times = pd.DatetimeIndex(pd.to_datetime(df[view.batch_source.timestamp_field], utc=True))
    times = times.to_pydatetime()
    return [(k, dict(zip(names, vals, strict=True)), t, None)
            for k, vals, t in zip(keys, zip(*columns, strict=True), times, strict=True)]


def write_online(store: FeatureStore, view: Any, df: Any) -> None:
    """Write a frame of one view's rows to the online store, as `provider.ingest_df` does:
    Redis through `write_redis`, any other store through its own `online_write_batch`."""
    if is_redis(store):
        write_redis(store, view, df)
    else:
        provider(store).online_write_batch(store.config, view, online_rows(view, df),
                                           progress=None)


def is_redis(store: FeatureStore) -> bool:
    from feast.infra.online_stores.redis import RedisOnlineStore

    return isinstance(online_store(store), RedisOnlineStore)


def redis_fields(store: FeatureStore, view: Any, names: list[str]) -> list[Any]:
    """The hash fields Feast's Redis store keeps these features of a view under (Feast keeps one
    hash per entity, every view's features in it), without the view's timestamp field."""
    from feast.infra.online_stores.redis import _versioned_fv_name

    _, fields = online_store(store)._generate_hset_keys_for_features(
        view, list(names), fv_name_override=_versioned_fv_name(view, store.config))
    return fields[:-1]


def redis_hmget(store: FeatureStore, entity_keys: list[Any], fields: list[Any]
                ) -> list[list[bytes | None]]:
    """One HMGET of `fields` per entity, in one pipeline (Feast's `_read_hash_fields`: its
    client, with the service's socket budget; a cluster client splits it by node)."""
    online = online_store(store)
    keys = online._generate_redis_keys_for_entities(store.config, entity_keys)
    return online._read_hash_fields(store.config, [(k, fields) for k in keys])


_NUMBERS = {"DOUBLE": "float64", "FLOAT": "float64", "INT64": "int64", "INT32": "int64"}


def serialized_columns(df: Any, features: list[Any]) -> list[list[bytes]]:
    """Each feature's column as serialized Feast value protos (null and NaN: the empty proto),
    equal to `_proto_column`'s protos serialized (tests/features/test_feature_store.py).
    Number columns are read as one block per type and each distinct value is serialized once
    with one reused message: per-column pandas calls cost more than the values (65 columns of
    a few hundred customers in a live push)."""
    from feast.protos.feast.types import Value_pb2

    columns: list[list[bytes]] = [[] for _ in features]
    blocks: dict[str, list[int]] = {}
    msg = Value_pb2.Value()
    for j, f in enumerate(features):
        value_type = f.dtype.to_value_type()
        if value_type.name in _NUMBERS:
            blocks.setdefault(value_type.name, []).append(j)
        elif value_type.name in _LISTS:  # `_proto_column`'s lists, one reused message
            field, _, cast = _LISTS[value_type.name]
            for v in df[f.name].tolist():
                if v is None:
                    columns[j].append(b"")
                    continue
                msg.Clear()
                held = getattr(msg, field)
                held.SetInParent()  # an empty list is a set value, not a null
                held.val.extend(_list_items(v, cast))
                columns[j].append(msg.SerializeToString())
        else:
            columns[j] = [p.SerializeToString()
                          for p in _proto_column(df[f.name].tolist(), value_type)]
    for kind, js in blocks.items():
        field, cast = _SCALARS[kind]
        block = df[[features[j].name for j in js]]
        nulls = block.isna().to_numpy().T.tolist()
        values = block.to_numpy(dtype=_NUMBERS[kind], na_value=0).T.tolist()
        msg.Clear()
        seen: dict[Any, bytes] = {}
        for j, col, null in zip(js, values, nulls, strict=True):
            out = columns[j]
            for v, na in zip(col, null, strict=True):
                if na:
                    out.append(b"")
                    continue
                key = v if v else repr(v)  # 0.0 and -0.0 are equal keys, not equal bytes
                b = seen.get(key)
                if b is None:
                    setattr(msg, field, cast(v))
                    b = seen[key] = msg.SerializeToString()
                out.append(b)
    return columns


@functools.lru_cache(maxsize=1 << 17)
def _entity_key(project: str, join_key: str, value: str, version: int) -> bytes:
    """Feast's Redis key of a one-entity key (the same customers are written by every push
    and view: built once, about 5 us each)."""
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return _redis_key(project, EntityKey(join_keys=[join_key],
                                         entity_values=[Value(string_val=value)]),
                      entity_key_serialization_version=version)


def write_redis(store: FeatureStore, view: Any, df: Any) -> None:
    """`RedisOnlineStore.online_write_batch` (feast 0.6x) for a frame of one view's rows: the
    same hashes, fields and bytes, and its rules: a row older than the stored one (or than an
    earlier row of the batch) is skipped, TTL and `skip_dedup` as configured. Values go from
    the frame's columns to bytes (`serialized_columns`) without a proto per value, field names
    are hashed once per call: Feast's per-value work was 70% of a live push on Redis (py-spy,
    benchmarks/features.py)."""
    import pandas as pd
    from feast.infra.online_stores.helpers import _mmh3
    from feast.infra.online_stores.redis import _versioned_fv_name
    from google.protobuf.timestamp_pb2 import Timestamp

    if len(df) == 0:
        return
    join_key = _entity_join_key(view)
    config = store.config
    ttl, dedup = config.online_store.key_ttl_seconds, not config.online_store.skip_dedup
    name = _versioned_fv_name(view, config)
    ts_key = f"_ts:{name}"
    fields = [_mmh3(f"{name}:{f.name}") for f in view.features]
    columns = serialized_columns(df, view.features)
    version = config.entity_key_serialization_version
    keys = [_entity_key(config.project, join_key, str(c), version)
            for c in df[join_key].tolist()]
    # event times as Feast writes them: microseconds (it goes through Python datetimes); a
    # zone-aware column is converted as it is (to_datetime and .dt cost 0.3 ms a call)
    times = df[view.batch_source.timestamp_field]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        times = pd.to_datetime(times, utc=True)
    micros = times.array.as_unit("us").asi8.tolist()
    client = redis_client(store)
    previous: list[Any] = [None] * len(keys)
    if dedup:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, ts_key)
            previous = [r[0] for r in pipe.execute()]
    latest: dict[bytes, int] = {}
    ts, old = Timestamp(), Timestamp()
    with client.pipeline(transaction=False) as pipe:
        for key, prev, us, values in zip(keys, previous, micros, zip(*columns, strict=True),
                                         strict=True):
            nanos = us * 1000
            if dedup:
                seen = 0
                if prev:
                    old.ParseFromString(prev)
                    seen = old.seconds * 1_000_000_000 + old.nanos
                seen = max(seen, latest.get(key, 0))
                if seen and nanos <= seen:
                    continue
                latest[key] = nanos
            ts.seconds, ts.nanos = divmod(nanos, 1_000_000_000)
            mapping = dict(zip(fields, values, strict=True))
            mapping[ts_key] = ts.SerializeToString()
            pipe.hset(key, mapping=mapping)
            if ttl:
                pipe.expire(name=key, time=ttl)
        pipe.execute()
