"""Live feature updates: raw events -> that customer's online features, within a second.

`LiveUpdater.ingest` validates a batch of events (bad ones go to `DATA/live/rejects.jsonl` with
a reason), appends the good ones to a durable log (`DATA/live/events.jsonl`; both rotate, see
features/online/logfiles.py) and to the history
store, recomputes the touched customers' features with the same transforms as the offline build,
and pushes them to Feast's push sources. Callers batch events (the `nba events ingest` consumer
does so by size and time) because one push of many rows costs far less than many pushes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import schema as s
from features.online.history import EventHistory, open_history
from features.online.logfiles import append_jsonl
from features.online.store import StoreUnavailable, open_store, store_errors
from features.repo.data_sources import ACTIVITY_PUSH, ITEMS_PUSH
from features.settings import Settings
from features.sources.validation import validate_events
from features.transforms import customer_activity_rows, customer_items

if TYPE_CHECKING:
    from feast import FeatureStore

MAX_FUTURE = "1h"  # live events more than this ahead of the clock are rejected
LIVE_DIR = "live"
EVENTS_LOG = "events.jsonl"
REJECTS_LOG = "rejects.jsonl"
log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    accepted: int = 0
    rejected: int = 0
    customers: list[str] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # one per rejected event, input order
    seconds: float = 0.0


class LiveUpdater:
    """Turns raw events into fresh online features (one per process; reuse it)."""

    def __init__(self, settings: Settings, store: FeatureStore | None = None,
                 history: EventHistory | None = None) -> None:
        self.settings = settings
        self.store = store or open_store(settings)
        self.history = history or open_history(settings)
        self.live_dir: Path = settings.data_dir / LIVE_DIR
        self.live_dir.mkdir(parents=True, exist_ok=True)
        self._errors = store_errors()
        self._views: dict[str, list] = {}

    def ingest(self, events: pd.DataFrame | list[dict[str, Any]],
               now: pd.Timestamp | None = None) -> IngestResult:
        """Validate, log, and push the features of every customer the events touch."""
        t0 = time.perf_counter()
        raw = pd.DataFrame(events) if not isinstance(events, pd.DataFrame) else events.copy()
        if raw.empty:
            return IngestResult()
        # events without an id get one from their content (validate_events): a retried batch
        # or a re-run after a crash lands on the same ids, which the history keeps once
        checked = validate_events(raw, now=now, max_future=MAX_FUTURE, require=False)
        result = IngestResult(accepted=len(checked.valid), rejected=len(checked.rejects),
                              rejected_by_reason=checked.reason_counts,
                              reasons=checked.rejects[s.REASON].tolist())
        if len(checked.rejects):
            self.reject(checked.rejects)
        if checked.valid.empty:
            result.seconds = time.perf_counter() - t0
            return result
        self._append_events(checked.valid)
        customers = checked.valid[s.CUSTOMER_ID].unique().tolist()
        try:
            self.history.append(checked.valid)
            self.push_features(customers)
        except self._errors as exc:
            log.warning("live ingest: online store unavailable (%s: %s); %d events kept in %s",
                        type(exc).__name__, exc, len(checked.valid), self.events_log)
            raise StoreUnavailable(
                f"online store unavailable; the {len(checked.valid)} accepted events are kept "
                "in the live event log: replay them with `nba events ingest --replay` once the "
                "store is back") from None
        result.customers = customers
        result.seconds = time.perf_counter() - t0
        return result

    @classmethod
    def rejects_only(cls, settings: Settings) -> LiveUpdater:
        """An updater that only records rejects (no store, no history): for readers that
        refuse input before it reaches a worker."""
        self = cls.__new__(cls)
        self.settings, self.live_dir = settings, settings.data_dir / LIVE_DIR
        self.live_dir.mkdir(parents=True, exist_ok=True)
        return self

    def keep(self, events: pd.DataFrame, now: pd.Timestamp | None = None) -> IngestResult:
        """Validate and log events without touching the stores (the store is down: they wait
        in the live log for `nba events ingest --replay`)."""
        checked = validate_events(events, now=now, max_future=MAX_FUTURE, require=False)
        if len(checked.rejects):
            self.reject(checked.rejects)
        if len(checked.valid):
            self._append_events(checked.valid)
        return IngestResult(accepted=len(checked.valid), rejected=len(checked.rejects),
                            rejected_by_reason=checked.reason_counts,
                            reasons=checked.rejects[s.REASON].tolist())

    @property
    def events_log(self) -> Path:
        return self.live_dir / EVENTS_LOG

    def reject(self, rows: pd.DataFrame) -> None:
        """Keep refused input with its reason (`rejects.jsonl`, rotating)."""
        recs = rows.assign(received_at=pd.Timestamp.now(tz="UTC").isoformat())
        recs = recs.astype(object).where(recs.notna(), None).to_dict("records")
        append_jsonl(self.live_dir / REJECTS_LOG, recs, self.settings.log_max_bytes,
                     self.settings.log_keep)

    def push_features(self, customers: list[str]) -> pd.DataFrame:
        """Recompute and push the features of `customers` from their history; return activity."""
        hist = self.history.recent(customers)
        activity = customer_activity_rows(hist, latest_only=True)
        items = customer_items(hist)
        self.push(ACTIVITY_PUSH, activity)
        self.push(ITEMS_PUSH, items)
        return activity

    def push(self, push_source: str, df: pd.DataFrame) -> None:
        """`FeatureStore.push(..., to=PushMode.ONLINE)` with the push source's views resolved
        once (Feast's push re-reads every view and service from the registry on each call: a
        fifth of the ingest time) and the rows written by features/online/feast_internals.py."""
        from features.online.feast_internals import write_online

        for fv in self._push_views(push_source):
            write_online(self.store, fv, df)

    def _push_views(self, push_source: str) -> list:
        if push_source not in self._views:
            self._views[push_source] = [
                fv for fv in self.store.list_feature_views()
                if fv.stream_source is not None and fv.stream_source.name == push_source]
            if not self._views[push_source]:
                raise KeyError(f"no feature view reads push source {push_source!r}")
        return self._views[push_source]

    def warm_up(self) -> None:
        """Resolve the pushed views and open the connections now, so the first events after
        a start do not wait for it (ingest workers call it before they report ready)."""
        from features.online import feast_internals  # noqa: F401

        for source in (ACTIVITY_PUSH, ITEMS_PUSH):
            self._push_views(source)
        self.history.recent([""])  # a real read: the connection opens now

    def _append_events(self, df: pd.DataFrame) -> None:
        """Accepted events to the live log, times as ISO UTC with microseconds (built from
        column lists: pandas' per-record conversion was a tenth of a live ingest)."""
        ts = np.datetime_as_string(df[s.EVENT_TS].dt.tz_convert(None).to_numpy(), unit="us")
        columns = {c: df[c].tolist() for c in df.columns}  # NaN: null in orjson's output
        columns[s.EVENT_TS] = [t + "Z" for t in ts.tolist()]
        recs = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(),
                                                                    strict=True)]
        append_jsonl(self.events_log, recs, self.settings.log_max_bytes, self.settings.log_keep)

    def close(self) -> None:
        self.history.close()
