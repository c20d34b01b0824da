"""Open the Feast feature store of a dataset, configured from `Settings` (no YAML needed).

The embedded default keeps everything under `DATA/feature_store/`: Parquet offline tables, a file
registry and a SQLite online store. `NBA_ONLINE_STORE=redis://...` and
`NBA_FEAST_REGISTRY=postgresql://...` switch to the machine's servers. A `feature_store.yaml`
with the same configuration is written next to it so the `feast` CLI (e.g. `feast ui`) works too.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from features.repo.data_sources import OfflinePaths
from features.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore


class StoreUnavailable(RuntimeError):
    """The online store or registry server cannot be reached."""


def offline_paths(settings: Settings) -> OfflinePaths:
    return OfflinePaths(settings.feature_repo_dir / "offline")


def _redis_connection_string(url: str) -> str:
    u = urlparse(url)
    db = (u.path or "/0").strip("/") or "0"
    conn = f"{u.hostname or 'localhost'}:{u.port or 6379},db={db}"
    if u.password:
        conn += f",password={u.password}"
    return conn


def check_reachable(url: str, timeout: float = 1.0) -> None:
    """Raise `StoreUnavailable` quickly when a server URL does not accept connections."""
    u = urlparse(url)
    port = u.port or {"redis": 6379, "postgresql": 5432}.get(u.scheme.split("+")[0], 0)
    try:
        with socket.create_connection((u.hostname or "localhost", port), timeout=timeout):
            return
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot reach {u.scheme}://{u.hostname}:{port} ({exc.strerror or exc}); is the server "
            "running? (or unset the NBA_* setting to use the embedded default)") from None


def repo_config_dict(settings: Settings) -> dict:
    """The Feast configuration (as in feature_store.yaml) for this dataset and settings."""
    repo = settings.feature_repo_dir.resolve()
    if settings.online_store.startswith("redis://"):
        online = {"type": "redis",
                  "connection_string": _redis_connection_string(settings.online_store)}
    else:
        online = {"type": "sqlite", "path": str(repo / "online.db")}
    if settings.feast_registry:
        path = settings.feast_registry.replace("postgresql://", "postgresql+psycopg://", 1)
        registry = {"registry_type": "sql", "path": path, "cache_ttl_seconds": 0,
                    "sqlalchemy_config_kwargs": {"pool_pre_ping": True}}
    else:
        registry = {"registry_type": "file", "path": str(repo / "registry.db"),
                    "cache_ttl_seconds": 0}
    return {
        "project": settings.feast_project,
        "provider": "local",
        "registry": registry,
        "online_store": online,
        "offline_store": {"type": "duckdb"},
        "entity_key_serialization_version": 3,
    }


def open_store(settings: Settings) -> FeatureStore:
    """A `FeatureStore` for the dataset in `settings.data_dir` (servers checked first)."""
    import yaml
    from feast import FeatureStore, RepoConfig

    for url in (settings.online_store, settings.feast_registry):
        if url.startswith(("redis://", "postgresql")):
            check_reachable(url)
    repo: Path = settings.feature_repo_dir
    repo.mkdir(parents=True, exist_ok=True)
    cfg = repo_config_dict(settings)
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    if cfg["online_store"]["type"] == "sqlite":
        _use_wal(Path(cfg["online_store"]["path"]))
    return FeatureStore(config=RepoConfig(repo_path=repo.resolve(), **cfg))


def _use_wal(path: Path) -> None:
    """Put the SQLite online store in WAL mode (persistent in the file): readers (the service)
    no longer block on the live writer, and a commit costs one sync instead of several."""
    import sqlite3

    with sqlite3.connect(str(path), timeout=10) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
