"""The project's one settings object: typed, loaded explicitly from `NBA_*` environment variables.

Nothing happens at import time; call `Settings.from_env()` at the edge (CLI, service, tests) and
pass the object down. Embedded defaults need no server: a local work dir, SQLite online store,
Parquet offline store, MLflow on a local SQLite file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import unquote

_TRUE = {"1", "true", "yes", "on"}
ENGINES = ("local", "spark")  # NBA_ENGINE: where bulk work (feature build, batch scoring) runs


class SettingsError(ValueError):
    """A setting has a value the project cannot use."""


REDIS_CLUSTER = "redis+cluster://"  # NBA_ONLINE_STORE=redis+cluster://[:pw@]h1:p1,h2:p2,...


def is_redis_url(url: str) -> bool:
    """Whether an online-store setting names Redis: one node or a cluster."""
    return url.startswith(("redis://", REDIS_CLUSTER))


def redis_cluster_nodes(url: str) -> tuple[list[tuple[str, int]], str | None]:
    """The startup nodes and password of `redis+cluster://[:password@]host:port[,host:port]
    [/0]` (a Redis Cluster has database 0 only; the client discovers the other nodes)."""
    if not url.startswith(REDIS_CLUSTER):
        raise SettingsError(f"{url!r} is not a {REDIS_CLUSTER}... URL")
    rest = url[len(REDIS_CLUSTER):]
    password = None
    if "@" in rest:
        auth, rest = rest.rsplit("@", 1)
        password = unquote(auth.split(":", 1)[-1]) or None
    rest, _, db = rest.partition("/")
    if db not in ("", "0"):
        raise SettingsError(f"{REDIS_CLUSTER}...: a Redis Cluster has database 0 only, not {db!r}")
    nodes = []
    for node in rest.split(","):
        m = re.fullmatch(r"([\w.-]+)(?::(\d+))?", node.strip())
        if not m:
            raise SettingsError(f"{REDIS_CLUSTER}...: {node!r} is not host:port")
        nodes.append((m.group(1), int(m.group(2) or 6379)))
    return nodes, password


def _env(name: str) -> dict[str, str]:
    """Field metadata: the field is read from environment variable `name`."""
    return {"env": name}


def _parse(name: str, raw: str, kind: str) -> object:
    """An environment value as the field's type (`kind`: its annotation)."""
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        what = "an integer" if kind == "int" else "a number"
        raise SettingsError(f"{name}={raw!r} is not {what}") from None
    if kind == "bool":
        return raw.lower() in _TRUE
    return Path(raw) if kind == "Path" else raw


@dataclass(frozen=True)
class Settings:
    """Where things live and which backends are used."""

    home: Path = field(default=Path(".nba"), metadata=_env("NBA_HOME"))
    data_dir: Path = field(default=Path(".nba/data"), metadata=_env("NBA_DATA_DIR"))
    # or redis://host:port[/db], or a cluster: redis+cluster://host:port,host:port,...
    online_store: str = field(default="sqlite", metadata=_env("NBA_ONLINE_STORE"))
    # empty: a file in the feature repo; or postgresql://...
    feast_registry: str = field(default="", metadata=_env("NBA_FEAST_REGISTRY"))
    feast_project: str = field(default="nba", metadata=_env("NBA_FEAST_PROJECT"))
    # empty: sqlite:///<data_dir>/mlflow/mlflow.db
    mlflow_tracking_uri: str = field(default="", metadata=_env("NBA_MLFLOW_TRACKING_URI"))
    api_key: str = field(default="", metadata=_env("NBA_API_KEY"))
    require_services: bool = field(default=False, metadata=_env("NBA_REQUIRE_SERVICES"))
    control_share: float = field(default=0.05, metadata=_env("NBA_CONTROL_SHARE"))
    explore_share: float = field(default=0.0, metadata=_env("NBA_EXPLORE_SHARE"))
    # or "thompson" (docs/uplift.md)
    explore_method: str = field(default="epsilon", metadata=_env("NBA_EXPLORE_METHOD"))
    cap_per_day: int = field(default=1, metadata=_env("NBA_CAP_PER_DAY"))
    cap_per_week: int = field(default=3, metadata=_env("NBA_CAP_PER_WEEK"))
    min_gap_hours: float = field(default=12.0, metadata=_env("NBA_MIN_GAP_HOURS"))
    # customer-local, inclusive
    quiet_start_hour: int = field(default=22, metadata=_env("NBA_QUIET_START_HOUR"))
    # customer-local, exclusive
    quiet_end_hour: int = field(default=7, metadata=_env("NBA_QUIET_END_HOUR"))
    # the last email counts as ignored (a follow-up candidate) when unopened this long
    followup_ignored_hours: float = field(default=48.0,
                                          metadata=_env("NBA_FOLLOWUP_IGNORED_HOURS"))
    # a price change is a price-drop trigger when the price fell by at least this percent
    price_drop_min_pct: float = field(default=10.0, metadata=_env("NBA_PRICE_DROP_MIN_PCT"))
    # live and decision logs rotate past this size ...
    log_max_mb: float = field(default=64.0, metadata=_env("NBA_LOG_MAX_MB"))
    # ... keeping this many older parts (bounded disk)
    log_keep: int = field(default=4, metadata=_env("NBA_LOG_KEEP"))
    # largest API request body
    max_body_mb: float = field(default=2.0, metadata=_env("NBA_MAX_BODY_MB"))
    workers: int = field(default=2, metadata=_env("NBA_WORKERS"))  # API worker processes
    # API requests queued or running per worker; more get a fast 503
    max_in_flight: int = field(default=8, metadata=_env("NBA_MAX_IN_FLIGHT"))
    # a request that waited longer for its turn gets a 503
    max_queue_ms: float = field(default=6.0, metadata=_env("NBA_MAX_QUEUE_MS"))
    # e.g. "intent=7d,churn=60d"; empty: chosen from the data
    horizons: str = field(default="", metadata=_env("NBA_HORIZONS"))
    # e.g. "7d"; empty: weekly, or horizon / 4 for long horizons
    snapshot_every: str = field(default="", metadata=_env("NBA_SNAPSHOT_EVERY"))
    # bulk work: "local" (embedded) or "spark" (docs/scale.md)
    engine: str = field(default="local", metadata=_env("NBA_ENGINE"))
    # with engine "spark": local[N], spark://host:port, k8s://https://..., yarn
    spark_master: str = field(default="local[2]", metadata=_env("NBA_SPARK_MASTER"))
    extra: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Read `NBA_*` variables (or `env`), then apply keyword overrides (e.g. from CLI flags)."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f.metadata.get("env")
            raw = env.get(name, "") if name else ""
            if raw != "":  # unset or empty: the field's default
                values[f.name] = _parse(name, raw, str(f.type))
        if "data_dir" not in values:  # default: inside the home directory
            values["data_dir"] = Path(values.get("home", cls.home)) / "data"
        settings = cls(**values)
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" in clean:
            clean["data_dir"] = Path(str(clean["data_dir"]))
        settings = replace(settings, **clean)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise `SettingsError` naming the first unusable setting."""
        if self.online_store != "sqlite" and not is_redis_url(self.online_store):
            raise SettingsError(
                f"NBA_ONLINE_STORE={self.online_store!r}: expected 'sqlite', 'redis://host:port' "
                f"or '{REDIS_CLUSTER}host:port,host:port'"
            )
        if self.online_store.startswith(REDIS_CLUSTER):
            try:
                redis_cluster_nodes(self.online_store)
            except SettingsError as exc:
                raise SettingsError(f"NBA_ONLINE_STORE: {exc}") from None
        if self.feast_registry and not self.feast_registry.startswith(
            ("postgresql://", "postgresql+psycopg://")
        ):
            raise SettingsError(
                f"NBA_FEAST_REGISTRY={self.feast_registry!r}: expected empty or postgresql://..."
            )
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.feast_project):
            raise SettingsError(
                f"NBA_FEAST_PROJECT={self.feast_project!r}: use letters, digits and underscores"
            )
        if not 0.0 <= self.explore_share <= 1.0:
            raise SettingsError(f"NBA_EXPLORE_SHARE={self.explore_share}: expected 0 <= x <= 1")
        if self.explore_method not in ("epsilon", "thompson"):
            raise SettingsError(f"NBA_EXPLORE_METHOD={self.explore_method!r}: expected epsilon "
                                "or thompson")
        if not 0.0 <= self.control_share < 1.0:
            raise SettingsError(f"NBA_CONTROL_SHARE={self.control_share}: expected 0 <= x < 1")
        if self.cap_per_day < 0 or self.cap_per_week < 0 or self.min_gap_hours < 0:
            raise SettingsError("frequency caps and minimum gap must be >= 0")
        if self.workers < 1:
            raise SettingsError(f"NBA_WORKERS={self.workers}: expected at least 1")
        if self.max_in_flight < 1:
            raise SettingsError(f"NBA_MAX_IN_FLIGHT={self.max_in_flight}: expected at least 1")
        if self.max_queue_ms <= 0:
            raise SettingsError(f"NBA_MAX_QUEUE_MS={self.max_queue_ms}: expected > 0")
        if self.log_max_mb <= 0 or self.log_keep < 0 or self.max_body_mb <= 0:
            raise SettingsError("NBA_LOG_MAX_MB and NBA_MAX_BODY_MB must be > 0, "
                                "NBA_LOG_KEEP >= 0")
        if self.engine not in ENGINES:
            raise SettingsError(f"NBA_ENGINE={self.engine!r}: expected "
                                + " or ".join(ENGINES))
        if not re.fullmatch(r"local(\[(\*|\d+)(,\d+)?\])?|yarn|\w[\w+]*://\S+", self.spark_master):
            raise SettingsError(f"NBA_SPARK_MASTER={self.spark_master!r}: expected local[N], "
                                "spark://host:port, k8s://https://host:port or yarn")
        if self.followup_ignored_hours <= 0:
            raise SettingsError(f"NBA_FOLLOWUP_IGNORED_HOURS={self.followup_ignored_hours}: "
                                "expected hours > 0")
        if not 0 < self.price_drop_min_pct < 100:
            raise SettingsError(f"NBA_PRICE_DROP_MIN_PCT={self.price_drop_min_pct}: expected a "
                                "percent 0 < x < 100")
        for name in ("quiet_start_hour", "quiet_end_hour"):
            if not 0 <= getattr(self, name) <= 23:
                raise SettingsError(f"NBA_{name.upper()}: expected an hour 0..23")

    # --- derived locations -------------------------------------------------------------
    @property
    def redis_online(self) -> bool:
        """Whether the online store (and the live history, product state and decision index
        next to it) is Redis, one node or a cluster."""
        return is_redis_url(self.online_store)

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking (and registry) URI; by default a SQLite file in the dataset, so
        each dataset has its own experiments and registered models."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow' / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        """Where MLflow stores artifacts (next to the tracking file by default)."""
        return (self.data_dir / "mlflow" / "artifacts").resolve()

    @property
    def feature_repo_dir(self) -> Path:
        """Per-dataset Feast working directory (offline Parquet, registry, SQLite online store)."""
        return self.data_dir / "feature_store"

    @property
    def log_max_bytes(self) -> int:
        return int(self.log_max_mb * 1024 * 1024)

    @property
    def compiled_models_dir(self) -> Path:
        """Champion boosters compiled for batch scoring, by model hash (a cache: safe to delete)."""
        return self.data_dir / "cache" / "compiled_models"

    @property
    def models_dir(self) -> Path:
        """Per-dataset training outputs (evaluation tables, plots) before they go to MLflow."""
        return self.data_dir / "models"
