"""Pipeline steps for features: build the offline store, apply the Feast repo, materialize."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features import schema as s
from features.offline.build import build_offline, is_built
from features.online.store import offline_paths
from features.online.store_ops import materialize_online, materialize_start, register, seed_history
from features.settings import Settings
from features.sources.dataset import iter_events, read_dataset, read_period
from features.transforms import LOOKBACK_DAYS
from pipelines.console import step

APPLIED_MARK = "applied.txt"
MATERIALIZED_MARK = "materialized.txt"


@dataclass
class FeatureStatus:
    built: bool
    applied: bool
    materialized: bool


def _fingerprint(settings: Settings) -> str:
    """Which stores a mark refers to: switching stores makes apply/materialize run again."""
    return f"{settings.online_store}|{settings.feast_registry}|{settings.feast_project}"


def _applied_fingerprint(settings: Settings) -> str:
    """The registry also depends on the engine (Spark sources); the online rows do not."""
    return _fingerprint(settings) + ("|spark" if settings.engine == "spark" else "")


def _marked(settings: Settings, mark: str) -> bool:
    path = settings.feature_repo_dir / mark
    expected = _applied_fingerprint(settings) if mark == APPLIED_MARK else _fingerprint(settings)
    return path.exists() and path.read_text() == expected


def status(settings: Settings) -> FeatureStatus:
    return FeatureStatus(is_built(offline_paths(settings)), _marked(settings, APPLIED_MARK),
                         _marked(settings, MATERIALIZED_MARK))


def build_step(settings: Settings) -> dict[str, int]:
    """Compute feature tables of the dataset into the offline store (Parquet)."""
    if settings.engine == "spark":  # same tables, same transform functions (docs/scale.md)
        from features.offline.spark_build import build_offline_spark

        report = build_offline_spark(settings, offline_paths(settings), progress=step)
    else:
        ds = read_dataset(settings.data_dir, with_truth=False)
        report = build_offline(ds, offline_paths(settings), progress=step)
    for mark in (APPLIED_MARK, MATERIALIZED_MARK):
        (settings.feature_repo_dir / mark).unlink(missing_ok=True)
    return report.rows


def apply_step(settings: Settings) -> list[str]:
    """Register entities, sources, views and services in the Feast registry."""
    names = register(settings)
    (settings.feature_repo_dir / APPLIED_MARK).write_text(_applied_fingerprint(settings))
    return names


def materialize_step(settings: Settings) -> dict[str, int]:
    """Load the latest feature rows into the online store; seed the live event history (from
    the log read in batches, so memory holds one batch, not the log; on Spark tasks when the
    engine is Spark and the store Redis)."""
    start, end = read_period(settings.data_dir)  # first: a clear error without a dataset
    customers = pd.read_parquet(settings.data_dir / s.CUSTOMERS_FILE, columns=[s.SIGNUP_TS])
    step("materializing feature views into the online store")
    materialize_online(settings, materialize_start(customers, start), end + pd.Timedelta(days=1))
    step(f"seeding the live event history (last {LOOKBACK_DAYS} days, and every signup, "
         "unsubscribe and purchase)")
    if settings.engine == "spark" and settings.redis_online:  # Spark tasks write to Redis
        from features.online.spark_history import seed_history_spark

        n = seed_history_spark(settings, end)
    else:
        n = seed_history(settings, iter_events(settings.data_dir), end)
    (settings.feature_repo_dir / MATERIALIZED_MARK).write_text(_fingerprint(settings))
    return {"history_events": n}


def ensure_features(settings: Settings, online_optional: bool = False) -> None:
    """Run whichever feature step is missing for this dataset. `online_optional`: an online
    store that cannot be reached is a warning, not an error (the service starts degraded and
    reconnects; materialize once the store is back)."""
    from features.online.store import StoreUnavailable

    st = status(settings)
    if not st.built:
        step("building features (missing for this dataset)")
        build_step(settings)
        st = status(settings)
    if not st.applied:
        step("applying the Feast repository")
        apply_step(settings)
    if not st.materialized:
        try:
            materialize_step(settings)
        except StoreUnavailable as exc:
            if not online_optional:
                raise
            step(f"warning: {exc}; starting without it: decisions are degraded until it is "
                 "back, then run `nba features materialize`")
