"""Feature-store operations the pipeline steps run: register the repository (as `feast apply`
does), materialize the views (in parallel where the store allows) and seed the live history."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from features import schema as s
from features.online.store import (
    check_reachable,
    offline_paths,
    open_store,
    registry_file_of,
)
from features.settings import Settings
from features.transforms import LOOKBACK_DAYS, STICKY_EVENTS


def register(settings: Settings) -> list[str]:
    """Apply the repository's objects to the Feast registry, record the infrastructure as
    `feast apply` does (so `feast plan` finds nothing to create) and write the definitions
    for the feast CLI beside feature_store.yaml. Returns the object names."""
    from features.repo import definitions, repo_contents, write_cli_repo

    paths = offline_paths(settings)
    store = open_store(settings, need_online=False)  # the registry; new views need no store
    objects = definitions(paths)
    store.apply(objects)
    _, _, infra = store.plan(repo_contents(definitions(paths), store.project))
    store.registry.update_infra(infra, store.project, commit=True)
    write_cli_repo(settings.feature_repo_dir, paths)
    return [o.name for o in objects]


VIEW_GROUPS = (("customer_activity",), ("customer_items", "customer_profile", "product_stats"))


def materialize_start(customers: pd.DataFrame, start: pd.Timestamp) -> pd.Timestamp:
    """Before every feature row of a dataset starting at `start` with these customers, whatever
    its period (1990s logs included)."""
    signup = pd.to_datetime(customers[s.SIGNUP_TS], utc=True).min()
    first = min(t for t in (start, signup) if pd.notna(t))
    return first - pd.Timedelta(days=1)


def _materialize_views(settings: Settings, views: tuple[str, ...], start: pd.Timestamp,
                       end: pd.Timestamp) -> None:
    """One worker's share of `materialize_online`. With a file registry the worker reads a
    private copy of it: Feast rewrites the file in place (truncate, then write) when it records
    a materialization, so a second process reading it at that moment saw a partial registry
    ("Entity product does not exist"). The parent records the intervals once both are done."""
    import shutil
    import tempfile

    from features.quiet import quiet_libraries

    quiet_libraries()  # a worker process
    if settings.feast_registry:  # a SQL registry: transactions, safe to share
        open_store(settings).materialize(start.to_pydatetime(), end.to_pydatetime(),
                                         feature_views=list(views))
        return
    with tempfile.TemporaryDirectory(prefix="nba-registry-") as tmp:
        copy = Path(tmp) / "registry.db"
        shutil.copyfile(registry_file_of(settings), copy)
        open_store(settings, registry_file=copy).materialize(
            start.to_pydatetime(), end.to_pydatetime(), feature_views=list(views))


def materialize_online(settings: Settings, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Feast materialize of every view over [start, end]. With Redis the biggest view and the
    others run in two processes at once (Redis takes concurrent writers; SQLite has one)."""
    if not settings.redis_online:
        open_store(settings).materialize(start.to_pydatetime(), end.to_pydatetime())
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    check_reachable(settings.online_store)  # a clear StoreUnavailable, not a worker's error
    with ProcessPoolExecutor(len(VIEW_GROUPS), mp_context=mp.get_context("spawn")) as pool:
        for f in [pool.submit(_materialize_views, settings, g, start, end)
                  for g in VIEW_GROUPS]:
            f.result()
    if not settings.feast_registry:  # the workers wrote private copies: record it here
        from feast.utils import make_tzaware

        store = open_store(settings)
        for name in (v for g in VIEW_GROUPS for v in g):
            store.registry.apply_materialization(
                store.get_feature_view(name), store.project,
                make_tzaware(start.to_pydatetime()), make_tzaware(end.to_pydatetime()))


def history_rows(events: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """The events the live history keeps at `end`: the lookback window (and a day) plus every
    sticky event (signup, unsubscribe, purchase)."""
    since = end - pd.Timedelta(days=LOOKBACK_DAYS + 1)
    sticky = [str(e) for e in STICKY_EVENTS]
    return events[(events[s.EVENT_TS] > since) | events[s.EVENT_TYPE].astype(str).isin(sticky)]


def seed_history(settings: Settings, events: pd.DataFrame | Iterable[pd.DataFrame],
                 end: pd.Timestamp) -> int:
    """Replace the live history with the events the live transforms need at `end`. `events`: a
    frame, or frames in turn (`iter_events`: a log larger than memory)."""
    from features.online.history import open_history

    history = open_history(settings)
    n = 0
    try:
        history.clear()
        for frame in [events] if isinstance(events, pd.DataFrame) else events:
            n += history.append(history_rows(frame, end))
        return n
    finally:
        history.close()
