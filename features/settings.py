"""The project's one settings object: typed, loaded explicitly from `NBA_*` environment variables.

Nothing happens at import time; call `Settings.from_env()` at the edge (CLI, service, tests) and
pass the object down. Embedded defaults need no server: a local work dir, SQLite online store,
Parquet offline store, MLflow on a local SQLite file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
ENGINES = ("local", "spark")  # NBA_ENGINE: where bulk work (feature build, batch scoring) runs


class SettingsError(ValueError):
    """A setting has a value the project cannot use."""


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None


@dataclass(frozen=True)
class Settings:
    """Where things live and which backends are used."""

    home: Path = Path(".nba")
    data_dir: Path = Path(".nba/data")
    online_store: str = "sqlite"  # or redis://host:port[/db]
    feast_registry: str = ""  # empty: a file in the feature repo; or postgresql://...
    feast_project: str = "nba"
    mlflow_tracking_uri: str = ""  # empty: sqlite:///<data_dir>/mlflow/mlflow.db
    api_key: str = ""
    require_services: bool = False
    control_share: float = 0.05
    explore_share: float = 0.0
    explore_method: str = "epsilon"  # or "thompson" (docs/uplift.md)
    cap_per_day: int = 1
    cap_per_week: int = 3
    min_gap_hours: float = 12.0
    quiet_start_hour: int = 22  # customer-local, inclusive
    quiet_end_hour: int = 7  # customer-local, exclusive
    log_max_mb: float = 64.0  # live and decision logs rotate past this size ...
    log_keep: int = 4  # ... keeping this many older parts (bounded disk)
    max_body_mb: float = 2.0  # largest API request body
    workers: int = 2  # API worker processes
    max_in_flight: int = 8  # API requests queued or running per worker; more get a fast 503
    max_queue_ms: float = 6.0  # a request that waited longer for its turn gets a 503
    horizons: str = ""  # e.g. "intent=7d,churn=60d"; empty: chosen from the data
    snapshot_every: str = ""  # e.g. "7d"; empty: weekly, or horizon / 4 for long horizons
    engine: str = "local"  # bulk work: "local" (embedded) or "spark" (docs/scale.md)
    spark_master: str = "local[2]"  # with engine "spark": local[N], spark://..., k8s://...
    extra: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Read `NBA_*` variables (or `env`), then apply keyword overrides (e.g. from CLI flags)."""
        env = dict(os.environ if env is None else env)
        home = Path(env.get("NBA_HOME") or ".nba")
        settings = cls(
            home=home,
            data_dir=Path(env.get("NBA_DATA_DIR") or home / "data"),
            online_store=env.get("NBA_ONLINE_STORE") or "sqlite",
            feast_registry=env.get("NBA_FEAST_REGISTRY", ""),
            feast_project=env.get("NBA_FEAST_PROJECT") or "nba",
            mlflow_tracking_uri=env.get("NBA_MLFLOW_TRACKING_URI", ""),
            api_key=env.get("NBA_API_KEY", ""),
            require_services=env.get("NBA_REQUIRE_SERVICES", "").lower() in _TRUE,
            control_share=_env_float(env, "NBA_CONTROL_SHARE", 0.05),
            explore_share=_env_float(env, "NBA_EXPLORE_SHARE", 0.0),
            explore_method=env.get("NBA_EXPLORE_METHOD") or "epsilon",
            cap_per_day=_env_int(env, "NBA_CAP_PER_DAY", 1),
            cap_per_week=_env_int(env, "NBA_CAP_PER_WEEK", 3),
            min_gap_hours=_env_float(env, "NBA_MIN_GAP_HOURS", 12.0),
            quiet_start_hour=_env_int(env, "NBA_QUIET_START_HOUR", 22),
            quiet_end_hour=_env_int(env, "NBA_QUIET_END_HOUR", 7),
            log_max_mb=_env_float(env, "NBA_LOG_MAX_MB", 64.0),
            log_keep=_env_int(env, "NBA_LOG_KEEP", 4),
            max_body_mb=_env_float(env, "NBA_MAX_BODY_MB", 2.0),
            workers=_env_int(env, "NBA_WORKERS", 2),
            max_in_flight=_env_int(env, "NBA_MAX_IN_FLIGHT", 8),
            max_queue_ms=_env_float(env, "NBA_MAX_QUEUE_MS", 6.0),
            horizons=env.get("NBA_HORIZONS", ""),
            snapshot_every=env.get("NBA_SNAPSHOT_EVERY", ""),
            engine=(env.get("NBA_ENGINE") or "local").lower(),
            spark_master=env.get("NBA_SPARK_MASTER") or "local[2]",
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" in clean:
            clean["data_dir"] = Path(str(clean["data_dir"]))
        settings = replace(settings, **clean)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise `SettingsError` naming the first unusable setting."""
        if self.online_store != "sqlite" and not self.online_store.startswith("redis://"):
            raise SettingsError(
                f"NBA_ONLINE_STORE={self.online_store!r}: expected 'sqlite' or 'redis://host:port'"
            )
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
        for name in ("quiet_start_hour", "quiet_end_hour"):
            if not 0 <= getattr(self, name) <= 23:
                raise SettingsError(f"NBA_{name.upper()}: expected an hour 0..23")

    # --- derived locations -------------------------------------------------------------
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
    def models_dir(self) -> Path:
        """Per-dataset training outputs (evaluation tables, plots) before they go to MLflow."""
        return self.data_dir / "models"
