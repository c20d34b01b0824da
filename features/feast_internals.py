"""The one place that reaches into Feast's internals, and why.

Feast's public API (`get_online_features`, `push`, `write_to_online_store`) re-resolves views
and services from the registry and converts values row by row on every call: the serving path
and the live path would spend most of their time there (benchmarks/serving.py,
benchmarks/features.py). They call the provider and the online store directly instead, which
are stable across Feast 0.4x-0.6x but private; a Feast upgrade is checked here and by the
parity tests (tests/serving/test_response_serving.py, tests/features/test_feature_store.py).
"""

from __future__ import annotations

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
