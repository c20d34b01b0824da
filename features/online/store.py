"""Open the Feast feature store of a dataset, configured from `Settings` (no YAML needed).

The embedded default keeps everything under `DATA/feature_store/`: Parquet offline tables, a file
registry and a SQLite online store. `NBA_ONLINE_STORE=redis://...` (or a Redis Cluster,
`redis+cluster://host:port,host:port`) and `NBA_FEAST_REGISTRY=postgresql://...` switch to the
machine's servers. A `feature_store.yaml`
with the same configuration is written next to it so the `feast` CLI (e.g. `feast ui`) works too.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from features.repo.data_sources import OfflinePaths
from features.settings import REDIS_CLUSTER, Settings, redis_cluster_nodes

if TYPE_CHECKING:
    from feast import FeatureStore


class StoreUnavailable(RuntimeError):
    """The online store or registry server cannot be reached."""


def offline_paths(settings: Settings) -> OfflinePaths:
    return OfflinePaths(settings.feature_repo_dir / "offline", spark=settings.engine == "spark")


REDIS_PASSWORD_VAR = "NBA_REDIS_PASSWORD"


def _redis_connection_string(url: str, timeout: float | None = None,
                             secret: bool = True) -> str:
    """Feast's connection string for a redis:// or redis+cluster:// URL (a cluster: the node
    list, no database). `timeout` bounds every socket call (the service's budget); `secret`
    False writes `${NBA_REDIS_PASSWORD}` instead of the password (Feast expands it when it
    reads feature_store.yaml), so no password lands on disk."""
    if url.startswith(REDIS_CLUSTER):
        nodes, password = redis_cluster_nodes(url)
        conn = ",".join(f"{h}:{p}" for h, p in nodes)
    else:
        u = urlparse(url)
        db = (u.path or "/0").strip("/") or "0"
        conn = f"{u.hostname or 'localhost'}:{u.port or 6379},db={db}"
        password = u.password
    if password:
        conn += f",password={password}" if secret else f",password=${{{REDIS_PASSWORD_VAR}}}"
    if timeout is not None:  # connecting may take a little longer than a call (TLS, load)
        conn += f",socket_timeout={timeout},socket_connect_timeout={max(timeout, 1.0)}"
    return conn


def redacted(url: str) -> str:
    """A server URL safe to print: scheme, host and port only (every node of a cluster)."""
    if url.startswith(REDIS_CLUSTER):
        return REDIS_CLUSTER + ",".join(f"{h}:{p}" for h, p in redis_cluster_nodes(url)[0])
    u = urlparse(url)
    return f"{u.scheme}://{u.hostname}:{u.port}" if u.hostname else u.scheme


def store_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the store cannot be reached or answered too late" (degrade and
    retry later), as opposed to bugs (which must surface)."""
    import sqlite3

    errors: list[type[BaseException]] = [StoreUnavailable, ConnectionError, TimeoutError,
                                          OSError, sqlite3.OperationalError]
    try:
        import redis

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                   redis.exceptions.BusyLoadingError, redis.exceptions.ReadOnlyError,
                   # a cluster without a primary for a slot, or failing over
                   redis.exceptions.ClusterDownError, redis.exceptions.SlotNotCoveredError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:
        import sqlalchemy.exc

        errors += [sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def check_reachable(url: str, timeout: float = 1.0) -> None:
    """Raise `StoreUnavailable` quickly when a server URL does not accept connections (a
    cluster: when none of its nodes does, as its client needs one to discover the others)."""
    if url.startswith(REDIS_CLUSTER):
        for host, port in redis_cluster_nodes(url)[0]:
            try:
                with socket.create_connection((host, port), timeout=timeout):
                    return
            except OSError:
                continue
        raise StoreUnavailable(f"cannot reach any node of {redacted(url)}; is the cluster "
                               "running? (or unset NBA_ONLINE_STORE to use the embedded default)")
    u = urlparse(url)
    port = u.port or {"redis": 6379, "postgresql": 5432}.get(u.scheme.split("+")[0], 0)
    try:
        with socket.create_connection((u.hostname or "localhost", port), timeout=timeout):
            return
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot reach {u.scheme}://{u.hostname}:{port} ({exc.strerror or exc}); is the "
            "server running? (or unset the NBA_* setting to use the embedded default)") from None


def registry_file_of(settings: Settings) -> Path:
    """The embedded default's file registry (used without NBA_FEAST_REGISTRY)."""
    return settings.feature_repo_dir.resolve() / "registry.db"


def repo_config_dict(settings: Settings, timeout: float | None = None,
                     secret: bool = True) -> dict:
    """The Feast configuration (as in feature_store.yaml) for this dataset and settings."""
    repo = settings.feature_repo_dir.resolve()
    if settings.redis_online:
        online = {"type": "redis", "connection_string": _redis_connection_string(
            settings.online_store, timeout, secret)}
        if settings.online_store.startswith(REDIS_CLUSTER):  # Feast builds a RedisCluster
            online["redis_type"] = "redis_cluster"
    else:
        online = {"type": "sqlite", "path": str(repo / "online.db")}
    if settings.feast_registry:
        path = settings.feast_registry.replace("postgresql://", "postgresql+psycopg://", 1)
        u = urlparse(path)
        if u.password and not secret:  # expanded by Feast from the environment
            path = path.replace(f":{u.password}@", ":${NBA_REGISTRY_PASSWORD}@", 1)
        registry = {"registry_type": "sql", "path": path, "cache_ttl_seconds": 0,
                    "sqlalchemy_config_kwargs": {"pool_pre_ping": True}}
    else:
        registry = {"registry_type": "file", "path": str(registry_file_of(settings)),
                    "cache_ttl_seconds": 0}
    config = {
        "project": settings.feast_project,
        "provider": "local",
        "registry": registry,
        "online_store": online,
        "offline_store": {"type": "duckdb"},
        "entity_key_serialization_version": 3,
    }
    if settings.engine == "spark":  # Feast's Spark offline store and compute engine
        from features.spark.feast_config import spark_feast_config

        config.update(spark_feast_config(settings))
    return config


def _one_retry():
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,))


def one_try(client) -> None:
    """redis-py retries a failed or timed-out call 3 times with backoff by default: a hung
    server would cost four times the budget. A caller with a budget and a circuit breaker wants
    a timed-out call not retried, and a connection the server closed (idle timeout, restart)
    retried once at once on a new one (set before the pool opens a connection).

    A `RedisCluster` retries at the cluster level only (its node clients never do), on
    connection errors and timeouts alike, after re-reading the slot map: one retry at once,
    which is how it reaches a promoted replica, so a hung node costs at most twice the budget.
    """
    from redis.cluster import RedisCluster

    if isinstance(client, RedisCluster):
        client.set_retry(_one_retry())
    else:
        client.connection_pool.connection_kwargs["retry"] = _one_retry()


def budgeted_redis(url: str, timeout: float | None = None):
    """A Redis client for the project's own keys (live history, product state, decision
    index): a `RedisCluster` for a redis+cluster:// URL. `timeout`: the caller's budget per
    call (the service), with one try and no retry, its breaker taking over; None: 5 s per call
    with redis-py's retries (batch jobs). A cluster client reads the slot map when built:
    `StoreUnavailable` if no node answers."""
    import redis

    budget = 5.0 if timeout is None else timeout
    sockets = {"socket_connect_timeout": min(budget, 2.0), "socket_timeout": budget}
    if url.startswith(REDIS_CLUSTER):
        from redis.cluster import ClusterNode, RedisCluster

        nodes, password = redis_cluster_nodes(url)
        try:
            client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes],
                                  password=password, **sockets,
                                  retry=_one_retry() if timeout is not None else None)
        except redis.exceptions.RedisClusterException as exc:
            raise StoreUnavailable(f"{redacted(url)}: {exc}") from None
        return client
    client = redis.Redis.from_url(url, **sockets)
    if timeout is not None:
        one_try(client)
    return client


def open_store(settings: Settings, timeout: float | None = None,
               need_online: bool = True, registry_file: Path | None = None) -> FeatureStore:
    """A `FeatureStore` for the dataset in `settings.data_dir` (servers checked first; the
    online store only when `need_online`); `timeout` bounds every online-store socket call
    (seconds; None: the client default). `registry_file`: read and record a file registry at
    this path instead (a worker's private copy, see store_ops.materialize_online)."""
    import yaml
    from feast import FeatureStore, RepoConfig

    for url in (settings.online_store if need_online else "", settings.feast_registry):
        if url.startswith(("redis://", REDIS_CLUSTER, "postgresql")):
            check_reachable(url, timeout=min(timeout or 1.0, 1.0))
    repo: Path = settings.feature_repo_dir
    repo.mkdir(parents=True, exist_ok=True)
    cfg = repo_config_dict(settings, timeout)
    if registry_file is not None:
        cfg["registry"] = {**cfg["registry"], "path": str(registry_file)}
    # for the feast CLI: no password on disk (see _redis_connection_string), owner-only
    yaml_path = repo / "feature_store.yaml"
    yaml_path.write_text(yaml.safe_dump(repo_config_dict(settings, secret=False),
                                        sort_keys=False))
    yaml_path.chmod(0o600)
    if cfg["online_store"]["type"] == "sqlite":
        _use_wal(Path(cfg["online_store"]["path"]))
    store = FeatureStore(config=RepoConfig(repo_path=repo.resolve(), **cfg))
    if timeout is not None and cfg["online_store"]["type"] == "redis":
        # Feast builds its Redis client lazily; build it now to give it one try per call
        import redis

        from features.online.feast_internals import redis_client

        try:  # a cluster client reads the slot map when built
            one_try(redis_client(store))
        except redis.exceptions.RedisClusterException as exc:
            raise StoreUnavailable(f"{redacted(settings.online_store)}: {exc}") from None
    return store


def _use_wal(path: Path) -> None:
    """Put the SQLite online store in WAL mode (persistent in the file): readers (the service)
    no longer block on the live writer, and a commit costs one sync instead of several."""
    import sqlite3

    with sqlite3.connect(str(path), timeout=10) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
