"""Pipeline steps for features: build the offline store, apply the Feast repo, materialize."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features import schema as s
from features.build import build_offline, is_built
from features.dataset import read_dataset
from features.settings import Settings
from features.store import offline_paths, open_store
from features.transforms import LOOKBACK_DAYS, STICKY_EVENTS
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
        from features.spark_build import build_offline_spark

        report = build_offline_spark(settings, offline_paths(settings), progress=step)
    else:
        ds = read_dataset(settings.data_dir, with_truth=False)
        report = build_offline(ds, offline_paths(settings), progress=step)
    for mark in (APPLIED_MARK, MATERIALIZED_MARK):
        (settings.feature_repo_dir / mark).unlink(missing_ok=True)
    return report.rows


def apply_step(settings: Settings) -> list[str]:
    """Register entities, sources, views and services in the Feast registry."""
    from features.repo import definitions

    store = open_store(settings, need_online=False)  # the registry; new views need no store
    objects = definitions(offline_paths(settings))
    store.apply(objects)
    (settings.feature_repo_dir / APPLIED_MARK).write_text(_applied_fingerprint(settings))
    return [o.name for o in objects]


def materialize_step(settings: Settings) -> dict[str, int]:
    """Load the latest feature rows into the online store; seed the live event history."""
    ds = read_dataset(settings.data_dir, with_truth=False)
    step("materializing feature views into the online store")
    materialize_online(settings, materialize_start(ds), ds.end + pd.Timedelta(days=1))
    step(f"seeding the live event history (last {LOOKBACK_DAYS} days, and every signup, "
         "unsubscribe and purchase)")
    n = seed_history(settings, ds.events, ds.end)
    (settings.feature_repo_dir / MATERIALIZED_MARK).write_text(_fingerprint(settings))
    return {"history_events": n}


VIEW_GROUPS = (("customer_activity",), ("customer_items", "customer_profile", "product_stats"))


def materialize_start(ds) -> pd.Timestamp:
    """Before every feature row of the dataset, whatever its period (1990s logs included)."""
    signup = pd.to_datetime(ds.customers[s.SIGNUP_TS], utc=True).min()
    first = min(t for t in (ds.start, signup) if pd.notna(t))
    return first - pd.Timedelta(days=1)


def _materialize_views(settings: Settings, views: tuple[str, ...], start: pd.Timestamp,
                       end: pd.Timestamp) -> None:
    from pipelines.console import quiet_libraries

    quiet_libraries()
    open_store(settings).materialize(start.to_pydatetime(), end.to_pydatetime(),
                                     feature_views=list(views))


def materialize_online(settings: Settings, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Feast materialize of every view over [start, end]. With Redis the biggest view and the
    others run in two processes at once (Redis takes concurrent writers; SQLite has one)."""
    if not settings.online_store.startswith("redis://"):
        open_store(settings).materialize(start.to_pydatetime(), end.to_pydatetime())
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(len(VIEW_GROUPS), mp_context=mp.get_context("spawn")) as pool:
        for f in [pool.submit(_materialize_views, settings, g, start, end)
                  for g in VIEW_GROUPS]:
            f.result()


def seed_history(settings: Settings, events: pd.DataFrame, end: pd.Timestamp) -> int:
    """Replace the live history with the events the live transforms need at `end`."""
    from features.history import open_history

    recent = events[(events[s.EVENT_TS] > end - pd.Timedelta(days=LOOKBACK_DAYS + 1))
                    | events[s.EVENT_TYPE].isin([str(e) for e in STICKY_EVENTS])]
    history = open_history(settings)
    try:
        history.clear()
        return history.append(recent)
    finally:
        history.close()


def ensure_features(settings: Settings, online_optional: bool = False) -> None:
    """Run whichever feature step is missing for this dataset. `online_optional`: an online
    store that cannot be reached is a warning, not an error (the service starts degraded and
    reconnects; materialize once the store is back)."""
    from features.store import StoreUnavailable

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
